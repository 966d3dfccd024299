"""The family catalogue: every metric the Genesys endpoints accept has its own row, and no two
families, in either mode, share a name (one name with two HELP texts breaks the exposition)."""

from __future__ import annotations

from poller import catalog
from poller.families import (
    METRICS,
    Family,
    count_family,
    counter_families,
    distribution_family,
    metric,
    occurrence_families,
    timer_families,
)

ACCEPTED = (*catalog.AGGREGATE_METRICS, *catalog.OBSERVATION_METRICS)


def families_of(name: str) -> list[Family]:
    """Every family a metric can be exported as, gauge mode and counter mode."""
    row = metric(name)
    if row.kind == "timer":
        return [
            *(family for _, family, _ in timer_families(name)),
            distribution_family(name, view=False, histogram=True),
        ]
    if row.kind == "occurrences":
        return [*occurrence_families(name), *counter_families(name)]
    return [count_family(name), *counter_families(name)]


def test_every_accepted_metric_has_a_row() -> None:
    """No metric the endpoints accept falls back to the HELP of a metric new to this poller."""
    assert sorted(set(ACCEPTED) - set(METRICS)) == []
    assert all("new to this poller" not in f.help for m in ACCEPTED for f in families_of(m))


def test_kinds_follow_genesys_prefixes() -> None:
    """t* metrics are timers, and only they; a new t* or n* metric gets the matching kind."""
    assert {m for m, row in METRICS.items() if row.kind == "timer"} == {
        m for m in ACCEPTED if m.startswith("t")
    }
    assert metric("tFlowSomethingNew").kind == "timer"
    assert metric("nFlowSomethingNew").kind == "count"


def test_family_names_are_unique() -> None:
    """The known metrics' families never share a name, across metrics and modes."""
    names = [f.name for m in METRICS for f in families_of(m)]
    assert len(names) == len(set(names))
    assert all(n.startswith("genesyscloud_flow_") for n in names)
