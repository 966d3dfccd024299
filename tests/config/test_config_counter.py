"""Counter mode in the config: its keys, their defaults, what is refused and why, and the plan
check-config prints for it."""

from __future__ import annotations

import pytest

from poller.checkreport import format_report
from poller.config import parse_config
from poller.errors import ConfigError

HEAD = "genesys:\n  region: mypurecloud.ie\nqueries:\n"
QUERY = """\
  - name: counted
    type: aggregate
    every: 30s
    metrics: [nFlow]
    mode: counter
"""


def problems(extra: str, query: str = QUERY) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(HEAD + query + extra, source="c.yaml", env={})
    return caught.value.problems


def test_counter_defaults_are_a_day_in_utc_settling_ten_minutes() -> None:
    """mode: counter alone gives period 1d, settle 10m, time zone UTC."""
    q = parse_config(HEAD + QUERY, source="c.yaml", env={}).queries[0]
    assert (q.mode, q.period, q.settle, q.time_zone) == ("counter", 86400.0, 600.0, "UTC")


def test_period_settle_and_zone_are_read() -> None:
    """period 15m, settle 2m and a time zone reach the model."""
    text = HEAD + QUERY + "    period: 15m\n    settle: 2m\n    time_zone: Europe/Dublin\n"
    q = parse_config(text, source="c.yaml", env={}).queries[0]
    assert (q.period, q.settle, q.time_zone) == (900.0, 120.0, "Europe/Dublin")


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            "    window: 1h\n",
            "queries[0].window: is not used in mode: counter, which counts over whole calendar "
            "periods (see period and settle); remove it",
        ),
        (
            "    delay: 1m\n",
            "queries[0].delay: is not used in mode: counter, which counts over whole calendar "
            "periods (see period and settle); remove it",
        ),
        (
            "    period: 7h\n",
            "queries[0].period: '7h' does not divide a day; use 1d, or a duration that divides "
            "24h such as 1h, 15m or 20s",
        ),
        (
            "    period: 1h\n    settle: 1h\n",
            "queries[0].settle: settle (1h) must be shorter than the period (1h): a closed period "
            "settles before the next one closes",
        ),
        (
            "    settle: 30s\n",
            "queries[0].every: 30s must be shorter than settle (30s); otherwise a closed period "
            "can restart before any poll saw its late data",
        ),
        (
            "    mode: counting\n",
            "queries[0].mode: unknown mode 'counting' (did you mean 'counter'?)",
        ),
    ],
)
def test_counter_problems_say_why(extra: str, problem: str) -> None:
    """Each refused combination is reported at its key with the reason."""
    query = QUERY.replace("    mode: counter\n", "") if "mode:" in extra else QUERY
    assert any(p.startswith(problem) for p in problems(extra, query)), problems(extra, query)


def test_period_and_settle_need_counter_mode() -> None:
    """In gauge mode (the default) period and settle are refused, naming mode: counter."""
    query = QUERY.replace("    mode: counter\n", "")
    assert problems("    period: 1h\n    settle: 5m\n", query) == [
        "queries[0].period: applies to mode: counter only; remove it, or add mode: counter",
        "queries[0].settle: applies to mode: counter only; remove it, or add mode: counter",
    ]


def test_plan_shows_the_period_and_the_settling_request() -> None:
    """check-config's plan shows the period, zone and settle, one request per run, and what a
    run asks for while a closed period settles."""
    text = HEAD + QUERY + "    period: 1h\n    time_zone: Europe/Dublin\n"
    plan = format_report(parse_config(text, source="c.yaml", env={}))
    assert "counter: period 1h (Europe/Dublin), settle 10m" in plan
    assert (
        "counted: counter mode, 1 request per run; during the first 10m of each period the run "
        "asks for the closed period instead of the current one" in plan
    )
    assert "Total: 2.0 requests/minute" in plan
