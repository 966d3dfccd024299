"""The poller's own metrics: rendered again after every change, and only then; process metrics
read again once the last reading is a second old."""

from __future__ import annotations

import gzip
import os
import resource
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from poller.selfmetrics import PROCESS_MAX_AGE, ProcessMetrics, SelfMetrics

QUERIES = ("flows", "outcomes", "now")

# Every way the daemon changes its own metrics, as (description, change).
Change = Callable[[SelfMetrics, str], None]
CHANGES: list[tuple[str, Change]] = [
    ("add query", lambda m, q: m.add_query(q, 60)),
    ("remove query", lambda m, q: m.remove_query(q)),
    ("poll counted", lambda m, q: m.polls.labels(q).inc()),
    ("failure counted", lambda m, q: m.poll_failures.labels(q).inc()),
    ("skip counted", lambda m, q: m.polls_skipped.labels(q).inc()),
    ("up set", lambda m, q: m.query_up.labels(q).set(1)),
    ("series set", lambda m, q: m.query_series.labels(q).set(len(q) * 1000)),
    ("duration set", lambda m, q: m.query_duration.labels(q).set(0.25)),
    ("series inc", lambda m, q: m.query_series.labels(q).inc(3)),
    ("series dec", lambda m, q: m.query_series.labels(q).dec(2)),
    ("request counted", lambda m, q: m.api_requests.labels("aggregates", q[:3]).inc()),
    ("latency observed", lambda m, q: m.api_request_duration.labels("aggregates").observe(0.3)),
    ("retry counted", lambda m, q: m.api_retries.labels("aggregates", "timeout").inc()),
    ("throttle counted", lambda m, q: m.api_throttled.labels("observations").inc()),
    ("login counted", lambda m, q: m.token_refreshes.inc()),
    ("token expiry set", lambda m, q: m.token_expiry.set(1.8e9 + len(q))),
    ("reload result set", lambda m, q: m.config_reload_ok.set(len(q) % 2)),
    ("reload time set", lambda m, q: m.config_reload_time.set_to_current_time()),
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(range(len(CHANGES))), st.sampled_from(QUERIES),
                  st.booleans()),
        max_size=25,
    )
)  # fmt: skip
def test_render_always_matches_a_fresh_rendering(steps: list[tuple[int, str, bool]]) -> None:
    """Whatever changed, and whether or not a scrape came in between, the self-metrics served
    are exactly what prometheus-client renders from their current values."""
    metrics = SelfMetrics(process=False)
    for index, query, scrape_between in steps:
        if scrape_between:
            metrics.render()
        CHANGES[index][1](metrics, query)
        fresh = generate_latest(metrics.registry)
        assert metrics.render() == fresh, CHANGES[index][0]
        [member] = metrics.render_gzip()
        assert gzip.decompress(member) == fresh, CHANGES[index][0]


def test_each_change_shows_on_the_next_render() -> None:
    """Every kind of change to the self-metrics is visible right after it, never a cached copy."""
    metrics = SelfMetrics(process=False)
    metrics.add_query("flows", 60)
    for name, change in CHANGES:
        before = metrics.render()
        change(metrics, "flows")
        if name == "add query":  # the query is already there: nothing new to show
            continue
        assert metrics.render() != before, name
        metrics.add_query("flows", 60)  # bring it back after "remove query"


def _open_fds(text: bytes) -> float:
    for family in text_string_to_metric_families(text.decode()):
        if family.name == "process_open_fds":
            return family.samples[0].value
    raise AssertionError("no process_open_fds")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _scraped_fds(metrics: SelfMetrics) -> tuple[float, float]:
    """process_open_fds as a plain and as a gzip scrape would show it."""
    packed = b"".join(gzip.decompress(m) for m in metrics.render_gzip())
    return _open_fds(metrics.render()), _open_fds(packed)


def test_process_metrics_are_read_again_once_a_second_old() -> None:
    """process_* metrics change by themselves: a scrape a second or more after the last reading
    reads them again (plain and gzip), even while the poller's own metrics are unchanged;
    scrapes closer together share one reading."""
    clock = Clock()
    metrics = SelfMetrics(monotonic=clock)
    metrics.add_query("flows", 60)
    before = _scraped_fds(metrics)
    assert before[0] == before[1]
    extra = [os.open(os.devnull, os.O_RDONLY) for _ in range(3)]
    try:
        clock.now += PROCESS_MAX_AGE / 2
        assert _scraped_fds(metrics) == before
        clock.now += PROCESS_MAX_AGE / 2
        assert _scraped_fds(metrics) == (before[0] + 3, before[1] + 3)
        clock.now -= 5 * PROCESS_MAX_AGE  # a clock stepping back never freezes the reading
        os.close(extra.pop())
        assert _scraped_fds(metrics) == (before[0] + 2, before[1] + 2)
    finally:
        for fd in extra:
            os.close(fd)


def test_process_metrics_come_last_in_one_valid_exposition() -> None:
    """The self-metrics and the process metrics parse as one exposition, process ones last."""
    metrics = SelfMetrics()
    metrics.add_query("flows", 60)
    names = [f.name for f in text_string_to_metric_families(metrics.render().decode())]
    assert names[0].startswith("genesyscloud_poller_")
    assert names[-1].startswith("process_")
    assert "genesyscloud_poller_query_up" in names
    assert len(names) == len(set(names))


def _families(text: bytes) -> dict[str, tuple[str, str, float]]:
    return {
        f.name: (f.type, f.documentation, f.samples[0].value)
        for f in text_string_to_metric_families(text.decode())
    }


def test_process_metrics_match_prometheus_clients_collector() -> None:
    """process_* families carry the names, types, help and values prometheus-client's own
    ProcessCollector gives, so dashboards built on it keep working."""
    from prometheus_client import CollectorRegistry, ProcessCollector

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    theirs = _families(generate_latest(registry))
    ours = _families(ProcessMetrics().render())
    assert ours.keys() == theirs.keys()
    for name, (kind, doc, value) in ours.items():
        assert (kind, doc) == theirs[name][:2], name
        if name in ("process_start_time_seconds", "process_max_fds", "process_open_fds"):
            assert value == pytest.approx(theirs[name][2], abs=0.02), name
        elif name == "process_cpu_seconds_total":
            assert 0 < value < theirs[name][2] + 1.0
        else:
            assert value == pytest.approx(theirs[name][2], rel=0.2), name


def test_process_metrics_read_a_command_name_with_spaces_and_parentheses(tmp_path: Path) -> None:
    """The fields of /proc/self/stat are found after the last ')', whatever the command name."""
    (tmp_path / "self" / "fd").mkdir(parents=True)
    for fd in range(4):
        (tmp_path / "self" / "fd" / str(fd)).touch()
    (tmp_path / "stat").write_text("cpu  1 2 3\nbtime 1700000000\n")
    ticks = os.sysconf("SC_CLK_TCK")
    fields = ["S"] + ["0"] * 40
    fields[11], fields[12] = str(3 * ticks), str(ticks)  # utime, stime
    fields[19], fields[20], fields[21] = str(50 * ticks), "123456789", "1000"
    (tmp_path / "self" / "stat").write_text("42 (my (odd) ) name) " + " ".join(fields) + "\n")
    values = ProcessMetrics(str(tmp_path)).values()
    assert values["cpu_seconds_total"] == 4.0
    assert values["start_time_seconds"] == 1700000050.0
    assert values["virtual_memory_bytes"] == 123456789.0
    assert values["resident_memory_bytes"] == 1000.0 * resource.getpagesize()
    assert values["open_fds"] == 4.0


def test_no_process_metrics_without_proc(tmp_path: Path) -> None:
    """Without /proc (not Linux), no process_* series are exported, and nothing fails."""
    metrics = ProcessMetrics(str(tmp_path / "missing"))
    assert metrics.values() == {}
    assert metrics.render() == b""
