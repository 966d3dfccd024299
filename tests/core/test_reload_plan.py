"""plan_reload: what a config reload must do, for each kind of change (pure, no event loop)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from poller.config.model import Config, GenesysSettings, QueryConfig, ServerSettings
from poller.reload import ReloadPlan, plan_org, plan_reload

GENESYS = GenesysSettings(
    region="mypurecloud.ie",
    api_base_url="https://api.mypurecloud.ie",
    login_base_url="https://login.mypurecloud.ie",
    requests_per_minute=300,
)
A = QueryConfig(name="a", type="aggregate", every=60.0, metrics=("nFlow",))
B = QueryConfig(name="b", type="observation", every=30.0, metrics=("oFlow",))
C = QueryConfig(name="c", type="aggregate", every=300.0, metrics=("tFlow",))
BASE = Config(genesys=GENESYS, server=ServerSettings(), queries=(A, B), source="poller.yaml")


def changed(**fields: Any) -> Config:
    return dataclasses.replace(BASE, **fields)


def genesys(**fields: Any) -> GenesysSettings:
    return dataclasses.replace(GENESYS, **fields)


CASES = [
    pytest.param(BASE, ReloadPlan(), id="no-change"),
    pytest.param(changed(source="/etc/poller.yaml"), ReloadPlan(), id="only-the-path-differs"),
    pytest.param(changed(queries=(B, A)), ReloadPlan(), id="queries-reordered"),
    pytest.param(changed(queries=(A, B, C)), ReloadPlan(add=("c",)), id="query-added"),
    pytest.param(
        changed(queries=(A,)), ReloadPlan(remove=("b",), cancel=("b",)), id="query-removed"
    ),
    pytest.param(
        changed(queries=(dataclasses.replace(A, every=120.0), B)),
        ReloadPlan(replace=("a",), cancel=("a",)),
        id="query-changed",
    ),
    pytest.param(
        changed(queries=(C, dataclasses.replace(B, metrics=("oFlow", "oUsers")))),
        ReloadPlan(remove=("a",), add=("c",), replace=("b",), cancel=("a", "b")),
        id="added-removed-and-changed-at-once",
    ),
    pytest.param(
        changed(genesys=genesys(timeout=10.0)),
        ReloadPlan(cancel=("a", "b"), rebuild_client=True),
        id="genesys-changed-same-rate",
    ),
    pytest.param(
        changed(genesys=genesys(requests_per_minute=100)),
        ReloadPlan(cancel=("a", "b"), rebuild_client=True, rate_changed=True),
        id="genesys-changed-new-rate",
    ),
    pytest.param(
        changed(genesys=genesys(api_base_url="http://127.0.0.1:8080"), queries=(A, C)),
        ReloadPlan(remove=("b",), add=("c",), cancel=("a", "b"), rebuild_client=True),
        id="genesys-and-queries-changed",
    ),
    pytest.param(
        changed(server=ServerSettings(host="127.0.0.1", port=9999)),
        ReloadPlan(server_ignored=True),
        id="server-changed",
    ),
    pytest.param(
        changed(warnings=("queries[0].metrics[0]: unknown metric 'nFlw'",)),
        ReloadPlan(warnings=("queries[0].metrics[0]: unknown metric 'nFlw'",)),
        id="warnings-of-the-new-config",
    ),
]


@pytest.mark.parametrize(("new", "expected"), CASES)
def test_plan_applies_exactly_the_change(new: Config, expected: ReloadPlan) -> None:
    """Each kind of config change gives a plan that touches what changed and nothing else."""
    assert plan_reload(BASE, new) == expected


def test_plan_lists_queries_in_config_order() -> None:
    """Removed queries come in the old config's order, added ones in the new config's order."""
    d = dataclasses.replace(C, name="d")
    old = changed(queries=(B, A, C))
    new = changed(queries=(d, dataclasses.replace(A, name="e")))
    plan = plan_reload(old, new)
    assert (plan.remove, plan.add) == (("b", "a", "c"), ("d", "e"))


def test_an_orgs_new_credentials_rebuild_its_client() -> None:
    """Rotated credentials (same hosts and queries) need a new client and abandon polls in
    flight, as new hosts do; the rate and queries stay."""
    org = BASE.org_list()[0]
    assert plan_org(org, org) == ReloadPlan()
    assert plan_org(org, org, credentials_changed=True) == ReloadPlan(
        cancel=("a", "b"), rebuild_client=True
    )
