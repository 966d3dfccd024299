"""`push` under genesys and in an org: defaults, what an org replaces, and clear problems."""

from __future__ import annotations

import pytest

from poller.config import parse_config
from poller.config.model import PushSettings
from poller.errors import ConfigError
from tests.support.config import aggregate, org_entry, poller_yaml

QUERY = aggregate("flows", mode="counter", group_by=["flowId"])


def problems(text: str) -> list[str]:
    """Each problem of `text` with its line, as check-config prints them."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="p.yaml", env={})
    return str(caught.value).splitlines()


def test_push_is_off_by_default() -> None:
    """Without a push key, push is off with Genesys' defaults (30m interval, 4 channels)."""
    config = parse_config(poller_yaml(QUERY), env={})
    assert config.genesys.push == PushSettings(False, 1800.0, 4, 60.0)


def test_genesys_push_is_every_orgs_default_and_an_org_replaces_its_keys() -> None:
    """acme inherits genesys.push; globex turns it off and keeps the 15m interval."""
    text = poller_yaml(
        QUERY,
        push={"enabled": True, "interval": "15m", "max_channels": 2, "ping_after": "30s"},
        orgs=org_entry("acme", client_id_env="A", client_secret_env="B")
        + org_entry("globex", client_id_env="C", client_secret_env="D", push={"enabled": False}),
    )
    acme, globex = parse_config(text, env={}).orgs
    assert acme.genesys.push == PushSettings(True, 900.0, 2, 30.0)
    assert globex.genesys.push == PushSettings(False, 900.0, 2, 30.0)


def test_bad_push_settings_are_named_with_the_fix() -> None:
    """An interval the org cannot have, too many channels, an unknown key: each named."""
    text = poller_yaml(
        QUERY, push={"enabled": "yes", "interval": "20m", "max_channels": 21, "channels": 2}
    )
    assert problems(text) == [
        "p.yaml:3: genesys.push: unknown key 'channels' (did you mean 'max_channels'?); "
        "allowed: enabled, interval, max_channels, ping_after",
        "p.yaml:3: genesys.push.enabled: expected true or false, found the string 'yes'",
        "p.yaml:3: genesys.push.interval: must be 15m, 30m or 60m: the org's analytics interval "
        "(30m unless the org changed it)",
        "p.yaml:3: genesys.push.max_channels: 21 is out of range; use 1 to 20",
    ]
