"""The generator of promtool tests: its series are what the real poller exposes, and its
notation is what promtool reads."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from poller.config.model import Config, QueryConfig
from poller.families import extreme_families, metric
from poller.simulator import SimulatorSettings
from poller.simulator.flowfaults import FAULT_KINDS, FlowFault
from tests.alerting import generate as g
from tests.support.clock import FakeClock
from tests.support.ruletests import run_promtool
from tests.support.stack import StackFactory

SEED = 7
FLOWS = 12
# Five minutes before the shipped counter queries' period starts (local midnight), to twelve
# minutes after: the closed period settling, then the new one from its start.
SPAN_START = "2026-05-13T22:55:00"  # 23:55 in Europe/Dublin (IST)
SPAN_STEPS = 17 * 4
FAULT_AFTER = 8 * 60.0  # seconds after the span's start


def generated_queries(config: Config) -> list[QueryConfig]:
    """The queries whose series the generator writes: counter and observation ones."""
    return [*g.counter_queries(config), *(q for q in config.queries if q.type == "observation")]


def queries_yaml(config: Config) -> str:
    """The shipped config's generated queries, as the queries snippet of a test stack."""
    names = {q.name for q in generated_queries(config)}
    # The counter queries with the zone they have in the shipped config (their own or the
    # top-level default).
    zones = {q.name: q.time_zone for q in g.counter_queries(config)}
    shipped = yaml.safe_load(g.SHIPPED_CONFIG.read_text())["queries"]
    chosen = [
        {**q, "time_zone": zones[q["name"]]} if q["name"] in zones else q
        for q in shipped
        if q["name"] in names
    ]
    return yaml.safe_dump(chosen, sort_keys=False)


def extremes(config: Config) -> set[str]:
    """The max/min gauges of the counter queries' timers: not read by any rule, not generated."""
    out: set[str] = set()
    for query in g.counter_queries(config):
        for name in query.metrics:
            if metric(name).kind == "timer":
                out.update(f.name for f in extreme_families(name, view=False))
    return out


async def test_generated_series_equal_the_real_pollers_scrapes(
    stack_factory: StackFactory,
) -> None:
    """For 17 minutes across the counter queries' period start (the closed period settling,
    then the new one), with every kind of flow fault starting on a flow of its own in the
    middle, every scrape of the real daemon polling the simulator at the shipped cadence shows
    exactly the generator's flow series and self-metrics at that step."""
    config = g.shipped_config()
    settings = SimulatorSettings(seed=SEED, flows=FLOWS)
    span = g.Span(g.utc(SPAN_START), SPAN_STEPS)
    engine = g.engine(settings)
    faults = {
        engine.org.flows[i].id: FlowFault(kind, round((span.start + FAULT_AFTER) * 1000))
        for i, kind in enumerate(FAULT_KINDS)
    }
    for flow_id, fault in faults.items():
        engine.set_flow_fault(flow_id, fault)
    generated = g.generate(engine, span, config)
    clock = FakeClock(span.start)
    stack = await stack_factory(
        queries_yaml(config),
        schedule=False,
        clock=clock,
        settings=settings,
        # Budget to spare, so that no poll waits for it: each happens at its scheduled time.
        rpm=100_000,
        # A day's answer can take seconds of real time on a loaded machine: no retry, please.
        timeout="60s",
    )
    for flow_id, fault in faults.items():
        stack.simulator.state.engine.set_flow_fault(flow_id, fault)
    queries = generated_queries(config)
    due = {q.name: span.start for q in queries}
    skip = extremes(config)
    names = {q.name for q in queries}
    compared = 0
    for step in range(span.steps):
        moment = span.scrape(step)
        while min(due.values()) < moment:
            at = min(due.values())
            clock.now = at
            for q in queries:
                if due[q.name] == at:
                    assert await stack.daemon.poll(q.name)
                    due[q.name] += q.every
        clock.now = moment
        scrape = await stack.scrape()
        shown = {
            (name, tuple(sorted(labels.items()))): value
            for name, labels, value in scrape.samples
            if labels.get("query") in names and name not in skip
            if name.startswith("genesyscloud_flow_") or name[len(g.P) :] in g.SELF_METRICS
        }
        expected = {
            (name, tuple(sorted(labels))): values[step]
            for (name, labels), values in generated.series.items()
            if dict(labels).get("query") in names and not math.isnan(values[step])
        }
        for key, value in list(expected.items()):
            if key[0] == g.P + "query_last_success_timestamp_seconds":
                expected[key] = value + span.epoch
        assert shown == expected, f"scrape {step} at {moment}"
        compared += len(shown)
    settling = generated.values(g.P + "query_settling")
    assert settling
    assert all({0.0, 1.0} <= set(v) for v in settling.values())
    assert compared > SPAN_STEPS * FLOWS * 5


def test_notation_expands_to_the_values(tmp_path: Path) -> None:
    """promtool reads the generator's notation back as the values it was given: steps, flat
    runs, decreases, gaps with a stale marker, one-off values."""
    nan = math.nan
    values = [0.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 7.25, 1.0, 2.0, nan, nan, nan, 5.0, nan, 4.0]
    assert g.expand_notation(values) == "0+1x3 3x2 7.25 1 2 stale _x2 5 stale 4"
    generated = g.Generated(g.Span(0.0, len(values)), {("x", (("a", "1"),)): values})
    checks = [
        {
            "expr": "x",
            "eval_time": g.duration(i * g.SCRAPE_SECONDS),
            "exp_samples": []
            if math.isnan(v)
            else [{"labels": g.series_text("x", (("a", "1"),)), "value": v}],
        }
        for i, v in enumerate(values)
    ]
    rules = tmp_path / "none.rules.yml"
    rules.write_text("groups: []\n")
    test = g.write_test_file(
        tmp_path / "t.yml", generated, promql_expr_test=checks, rule_files=[rules]
    )
    result = run_promtool(test)
    assert result.ok, result.output


def test_first_firing_names_the_first_evaluation_an_alert_fired_at(tmp_path: Path) -> None:
    """The check the generated tests use for "nothing fired" fails with, per alert and flow,
    the first evaluation it fired at, which the failure message turns into a UTC time and the
    flow's name."""
    rules = tmp_path / "x.rules.yml"
    rules.write_text(
        "groups:\n- name: x\n  rules:\n  - alert: XHigh\n    expr: x > 5\n"
        "    annotations: {summary: 'x is {{ $value }}'}\n"
    )
    span = g.Span(g.utc("2026-05-13T10:00:00") - g.SCRAPE_AFTER_POLL, 20)
    values = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 1.0, 1.0] + [math.nan] * 10
    generated = g.Generated(span, {("x", (("flow_id", "f-1"),)): values})
    end = span.promtool_time(span.end)
    check = {"expr": g.first_firing("", end), "eval_time": g.duration(end), "exp_samples": []}
    test = g.write_test_file(
        tmp_path / "t.yml", generated, promql_expr_test=[check], rule_files=[rules]
    )
    result = run_promtool(test)
    assert not result.ok
    assert g.fired(result.output) == [("XHigh", "f-1", 6 * g.SCRAPE_SECONDS)]
    assert "Wed 10:01:30 UTC  XHigh  Main IVR" in g.describe(
        result.output, span, {"f-1": "Main IVR"}
    )
