"""The snapshot store: whole-query swaps, 24 h zero-fill of vanished counts, one header per
family, and cached plain and gzip bodies. Time is passed in as `now`, so nothing waits."""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from poller.config.model import QueryType
from poller.digest import DigestJob, digest
from poller.families import Family
from poller.normalize import Snapshot
from poller.render import format_value, render_snapshot
from poller.store import ZERO_FILL_SECONDS, SnapshotStore
from tests.normalize.normalize_support import body
from tests.normalize.normalize_support import publish as publish_response
from tests.support.exposition import samples

DAY = 24 * 3600.0
FAMILY = Family("genesyscloud_flow_test_value", "A value.", "max", False)


def flows(**counts: int) -> dict[str, object]:
    """An aggregate response with nFlow counts per flow id."""
    return {
        "results": [
            {
                "group": {"flowId": flow},
                "data": [{"metrics": [{"metric": "nFlow", "stats": {"count": n}}]}],
            }
            for flow, n in counts.items()
        ]
    }


def timed(flow: str, **stats: float) -> dict[str, object]:
    """An aggregate response with one tFlow entry (stats in milliseconds)."""
    return {
        "results": [
            {
                "group": {"flowId": flow},
                "data": [{"metrics": [{"metric": "tFlow", "stats": stats}]}],
            }
        ]
    }


def publish(
    store: SnapshotStore, query: str, response: object, now: float, kind: QueryType = "aggregate"
) -> int:
    return publish_response(store, kind, query, response, now)


def series(store: SnapshotStore) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    """Every exported sample as (short family, sorted labels, value)."""
    return {
        (name.removeprefix("genesyscloud_flow_"), tuple(sorted(labels.items())), value)
        for name, labels, value in samples(body(store))
    }


def lbl(query: str, flow: str) -> tuple[tuple[str, str], ...]:
    return (("flow_id", flow), ("query", query))


def test_second_publish_replaces_the_first() -> None:
    """A publish swaps in the new values; a vanished count is the only leftover, held at 0."""
    store = SnapshotStore()
    publish(store, "q", flows(a=1, b=2), now=0)
    publish(store, "q", flows(a=5, c=7), now=60)
    assert series(store) == {
        ("entries", lbl("q", "a"), 5),
        ("entries", lbl("q", "b"), 0),
        ("entries", lbl("q", "c"), 7),
    }


def test_vanished_count_is_zero_for_24h_then_dropped() -> None:
    """A count missing from later polls reads 0 until 24 h after it was last seen, then goes."""
    store = SnapshotStore()
    publish(store, "q", flows(a=3, b=1), now=0)
    publish(store, "q", flows(b=1), now=600)
    assert ("entries", lbl("q", "a"), 0) in series(store)
    publish(store, "q", flows(b=1), now=DAY - 1)
    assert ("entries", lbl("q", "a"), 0) in series(store)
    publish(store, "q", flows(b=1), now=DAY + 1)
    assert series(store) == {("entries", lbl("q", "b"), 1)}


def test_zero_fill_counts_from_last_sighting() -> None:
    """A series seen again restarts its 24 h; it is held from its latest sighting."""
    store = SnapshotStore()
    publish(store, "q", flows(a=3), now=0)
    publish(store, "q", flows(), now=100)
    publish(store, "q", flows(a=4), now=50_000)
    assert series(store) == {("entries", lbl("q", "a"), 4)}
    publish(store, "q", flows(), now=50_000 + DAY - 1)
    assert series(store) == {("entries", lbl("q", "a"), 0)}
    publish(store, "q", flows(), now=50_000 + DAY + 1)
    assert series(store) == set()


def test_max_and_min_drop_at_once_sum_and_count_are_held() -> None:
    """When a timer vanishes, its sum and measurements read 0 while max and min disappear."""
    store = SnapshotStore()
    publish(store, "q", timed("a", sum=3000, max=2000, min=1000, count=2), now=0)
    assert series(store) == {
        ("duration_sum_seconds", lbl("q", "a"), 3),
        ("duration_max_seconds", lbl("q", "a"), 2),
        ("duration_min_seconds", lbl("q", "a"), 1),
        ("duration_measurements", lbl("q", "a"), 2),
    }
    publish(store, "q", {"results": []}, now=60)
    assert series(store) == {
        ("duration_sum_seconds", lbl("q", "a"), 0),
        ("duration_measurements", lbl("q", "a"), 0),
    }


def test_every_count_like_family_is_held() -> None:
    """Entries, outcomes, failed outcomes, milestones, milestone occurrences and executions, and
    active are all held at 0."""
    metrics = ["nFlow", "nFlowOutcome", "nFlowOutcomeFailed", "nFlowMilestone", "oFlowMilestone"]
    response = {
        "results": [
            {
                "group": {"flowId": "a"},
                "data": [{"metrics": [{"metric": m, "stats": {"count": 1}} for m in metrics]}],
            }
        ]
    }
    active = {
        "results": [
            {"group": {"flowId": "a"}, "data": [{"metric": "oFlow", "stats": {"count": 4}}]}
        ]
    }
    store = SnapshotStore()
    publish(store, "agg", response, now=0)
    publish(store, "obs", active, now=0, kind="observation")
    publish(store, "agg", {}, now=60)
    publish(store, "obs", {}, now=60, kind="observation")
    assert series(store) == {
        (family, lbl(query, "a"), 0)
        for query, family in [
            ("agg", "entries"),
            ("agg", "outcomes"),
            ("agg", "outcomes_failed"),
            ("agg", "milestones"),
            ("agg", "milestone_occurrences"),
            ("agg", "milestone_executions"),
            ("obs", "active"),
        ]
    }


def test_zero_fill_window_is_configurable() -> None:
    """The hold time comes from the constructor (24 h by default)."""
    assert ZERO_FILL_SECONDS == DAY
    store = SnapshotStore(zero_fill_seconds=30)
    publish(store, "q", flows(a=1), now=0)
    publish(store, "q", flows(), now=29)
    assert series(store) == {("entries", lbl("q", "a"), 0)}
    publish(store, "q", flows(), now=31)
    assert series(store) == set()


def test_publishing_one_query_leaves_others_alone() -> None:
    """A publish for one query neither changes nor zero-fills another query's series."""
    store = SnapshotStore()
    publish(store, "one", flows(a=1), now=0)
    publish(store, "two", flows(b=2), now=0)
    publish(store, "two", flows(c=3), now=60)
    assert series(store) == {
        ("entries", lbl("one", "a"), 1),
        ("entries", lbl("two", "b"), 0),
        ("entries", lbl("two", "c"), 3),
    }


def test_shared_family_gets_one_header() -> None:
    """Two queries exporting the same family share a single HELP and TYPE line."""
    store = SnapshotStore()
    publish(store, "one", flows(a=1), now=0)
    publish(store, "two", flows(b=2), now=0)
    text = body(store).decode()
    lines = text.splitlines()
    assert [line.split(" ", 3)[:3] for line in lines if line.startswith("#")] == [
        ["#", "HELP", "genesyscloud_flow_entries"],
        ["#", "TYPE", "genesyscloud_flow_entries"],
    ]
    assert lines[2:] == [
        'genesyscloud_flow_entries{query="one",flow_id="a"} 1',
        'genesyscloud_flow_entries{query="two",flow_id="b"} 2',
    ]


def test_drop_removes_only_that_query() -> None:
    """drop() removes a query's series (held zeros included) and keeps the others."""
    store = SnapshotStore()
    publish(store, "one", flows(a=1, x=1), now=0)
    publish(store, "one", flows(a=1), now=1)
    publish(store, "two", flows(b=2), now=0)
    store.drop("one")
    assert not store.has("one")
    assert store.has("two")
    assert series(store) == {("entries", lbl("two", "b"), 2)}


def test_drop_forgets_history() -> None:
    """After drop(), a query starts afresh: nothing it exported before is zero-filled."""
    store = SnapshotStore()
    publish(store, "q", flows(a=1), now=0)
    store.drop("q")
    publish(store, "q", flows(b=1), now=10)
    assert series(store) == {("entries", lbl("q", "b"), 1)}


def test_series_count_includes_held_zeros() -> None:
    """A commit's series count covers live and held series."""
    store = SnapshotStore()
    assert publish(store, "q", timed("a", sum=1, max=1, min=1, count=1), now=0) == 4
    assert publish(store, "q", flows(b=1, c=2), now=1) == 4  # 2 entries + sum + measurements
    assert ("entries", lbl("q", "c"), 2) in series(store)


def test_empty_store_serves_empty_bodies() -> None:
    """Before any publish there is nothing to serve, plain or gzip."""
    store = SnapshotStore()
    assert store.exposition().plain == ()
    assert store.exposition().gzip == b""


def test_gzip_body_is_the_plain_body_compressed() -> None:
    """After every publish and drop, the gzip body (a member per piece) decompresses to exactly
    the plain body, and each change makes a new exposition."""
    store = SnapshotStore()
    publish(store, "q", flows(a=1), now=0)
    first = store.exposition()
    assert store.exposition() is first
    assert gzip.decompress(first.gzip) == body(store)

    publish(store, "q", flows(a=2), now=1)
    assert store.exposition() is not first
    assert gzip.decompress(store.exposition().gzip) == body(store)
    assert b'flow_id="a"} 2\n' in body(store)

    publish(store, "r", flows(b=1), now=1)
    store.drop("r")
    assert gzip.decompress(store.exposition().gzip) == body(store)
    assert b'query="r"' not in body(store)


def test_families_read_from_the_worker_serve_as_rendered_ones() -> None:
    """A family's text as the worker's reply leaves it (a read-only view of a mapping) gives
    the same plain and gzip bodies, held zeros included, as the same text in bytes."""
    rendered = digest(DigestJob("aggregate", "q", json.dumps(flows(a=1, b=2)).encode(), 0.0))
    viewed = {
        name: replace(family, text=memoryview(bytearray(family.text)).toreadonly())
        for name, family in rendered.items()
    }
    plain, mapped = SnapshotStore(), SnapshotStore()
    for store, families in ((plain, rendered), (mapped, viewed)):
        store.commit(store.prepare("q", families, 0.0))
        store.commit(store.prepare("q", families, 1.0))
    assert body(mapped) == body(plain)
    assert b'flow_id="b"} 2\n' in body(mapped)
    assert gzip.decompress(mapped.exposition().gzip) == body(plain)
    # a vanished series is held at 0 after a reply of views too
    after = digest(DigestJob("aggregate", "q", json.dumps(flows(a=3)).encode(), 2.0))
    mapped.commit(mapped.prepare("q", after, 2.0))
    assert b'flow_id="b"} 0\n' in body(mapped)


def test_dropping_an_unknown_query_changes_nothing() -> None:
    """drop() of a query the store does not have keeps the exposition as it was."""
    store = SnapshotStore()
    publish(store, "q", flows(a=1), now=0)
    before = store.exposition()
    store.drop("nope")
    assert store.exposition() is before


EXTREMES = [
    *(0.0, -0.0, 1.0, -3.0, 0.5, 1e15 - 1, 1e15, -1e15, -1e15 + 1, 1e16, 2.5e-9, 123456.789),
    *(9007199254740993.0, 1.7976931348623157e308, math.nan, math.inf, -math.inf),
]


@given(st.lists(st.floats() | st.sampled_from(EXTREMES), min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_every_value_is_written_as_format_value_writes_it(values: list[float]) -> None:
    """Whatever the value (whole, fractional, huge, negative zero, NaN, infinite), the sample
    line holds exactly format_value's text, the form the golden files pin down."""
    snapshot = Snapshot(
        {FAMILY.name: FAMILY},
        {FAMILY.name: {(("query", "q"), ("flow_id", f"f{i}")): v for i, v in enumerate(values)}},
    )
    store = SnapshotStore()
    store.commit(store.prepare("q", render_snapshot(snapshot), 0.0))
    lines = body(store).decode().splitlines()[2:]  # after HELP and TYPE
    assert lines == [
        f'{FAMILY.name}{{query="q",flow_id="f{i}"}} {format_value(v)}' for i, v in enumerate(values)
    ]
