"""Durations and listen addresses, the two value syntaxes the config shares with the CLI."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.config import format_duration, parse_duration, parse_listen_address
from poller.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("15s", 15.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("24h", 86400.0),
        ("0s", 0.0),
        ("1.5s", 1.5),
        ("1m30s", 90.0),
        ("1h2m3s4ms", 3723.004),
        (" 15s ", 15.0),
        ("8760h", 8760 * 3600.0),
    ],
)
def test_parse_duration_accepts_every_form(text: str, seconds: float) -> None:
    """Each documented duration form (and combinations, large to small) gives its seconds."""
    assert parse_duration(text, where="every") == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (60, "60 has no unit; write 60s"),
        (1.5, "1.5 has no unit; write 1.5s"),
        (60.0, "60 has no unit; write 60s"),
        (
            "15",
            "invalid duration '15'; use a number with a unit (ms, s, m or h), "
            "such as 500ms, 15s or 1h30m",
        ),
        (
            "1d",
            "invalid duration '1d'; use a number with a unit (ms, s, m or h), "
            "such as 500ms, 15s or 1h30m",
        ),
        (
            "30s1m",
            "invalid duration '30s1m'; use a number with a unit (ms, s, m or h), "
            "such as 500ms, 15s or 1h30m",
        ),
        (
            "15 s",
            "invalid duration '15 s'; use a number with a unit (ms, s, m or h), "
            "such as 500ms, 15s or 1h30m",
        ),
        (
            "",
            "invalid duration ''; use a number with a unit (ms, s, m or h), "
            "such as 500ms, 15s or 1h30m",
        ),
        ("9000h", "'9000h' is too long; the longest allowed is 8760h (a year)"),
        (-5, "expected a duration such as 15s, 15m or 1h30m, found the integer -5"),
        (math.inf, "expected a duration such as 15s, 15m or 1h30m, found the number inf"),
        (True, "expected a duration such as 15s, 15m or 1h30m, found the boolean true"),
        (None, "expected a duration such as 15s, 15m or 1h30m, found null"),
        (["15s"], "expected a duration such as 15s, 15m or 1h30m, found a list"),
    ],
)
def test_parse_duration_refuses_with_the_fix(value: object, problem: str) -> None:
    """Invalid durations raise ConfigError naming the place (source) and the fix."""
    with pytest.raises(ConfigError) as caught:
        parse_duration(value, where="--timeout")
    assert caught.value.problems == [problem]
    assert str(caught.value) == f"--timeout: {problem}"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (15, "15s"), (60, "1m"), (90, "1m30s"), (5400, "1h30m")],
)
def test_format_duration_is_canonical(seconds: float, text: str) -> None:
    """format_duration writes the shortest form in whole units, largest first."""
    assert format_duration(seconds) == text


@settings(max_examples=200, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=8760 * 3600 * 1000))
def test_format_duration_round_trips(millis: int) -> None:
    """Any whole number of milliseconds survives format_duration then parse_duration."""
    seconds = millis / 1000
    assert parse_duration(format_duration(seconds), where="x") == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("0.0.0.0:9864", ("0.0.0.0", 9864)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9864", ("::1", 9864)),
        ("[::]:9864", ("::", 9864)),
        (":9864", ("", 9864)),
        ("localhost:9864", ("localhost", 9864)),
        ("poller.example.com:65535", ("poller.example.com", 65535)),
    ],
)
def test_parse_listen_address_forms(text: str, address: tuple[str, int]) -> None:
    """IPv4, bracketed IPv6, host names and ':port' (all interfaces, host '') are accepted."""
    assert parse_listen_address(text, where="server.listen") == address


HINT = "write host:port, such as 0.0.0.0:9864, 127.0.0.1:9864, [::1]:9864 or :9864"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("9864", f"invalid address '9864'; {HINT}"),
        ("0.0.0.0", f"invalid address '0.0.0.0'; {HINT}"),
        ("0.0.0.0:", f"invalid address '0.0.0.0:'; {HINT}"),
        ("0.0.0.0:http", f"invalid address '0.0.0.0:http'; {HINT}"),
        ("0.0.0.0:65536", "port '65536' is out of range; use 0 to 65535"),
        ("0.0.0.0:1234567", "port '1234567' is out of range; use 0 to 65535"),
        (
            "::1:9864",
            "invalid address '::1:9864'; put an IPv6 address in brackets, such as [::1]:9864",
        ),
        ("[::1]", f"invalid address '[::1]'; {HINT}"),
        (
            "[127.0.0.1]:9864",
            "invalid IPv6 address '127.0.0.1'; brackets hold an IPv6 address, such as [::1]",
        ),
        ("999.1.1.1:9864", "invalid host '999.1.1.1'; use an IP address or a host name"),
        ("bad host:9864", "invalid host 'bad host'; use an IP address or a host name"),
    ],
)
def test_parse_listen_address_refuses_with_the_fix(text: str, problem: str) -> None:
    """Invalid addresses raise ConfigError whose source is the option that carried them."""
    with pytest.raises(ConfigError) as caught:
        parse_listen_address(text, where="--web.listen-address")
    assert caught.value.problems == [problem]
    assert caught.value.source == "--web.listen-address"
