"""Each flow fault, injected at several times of day on flows of each volume, through the shipped
rules: the expected alert fires by its target, and nothing fires where it should not.

One promtool test per time of day: the org's flows, 15 of them broken at that moment (each
fault kind on one flow of each volume class), with the rules' lookback of normal history
before. Its checks:
- nothing fires anywhere before the fault;
- each fault on a flow whose volume lets its alert see it fires that alert by its target;
- nothing fires on a broken flow with a few entries an hour for as long as a flow of a minute
  may take to fire (later a long window may rightly see it), except under `fail`, whose
  failed outcomes are evidence by themselves;
- nothing ever fires elsewhere: not on the unbroken flows, and no poller alert.

Targets are worked out here from the fault's moment and the alerts' windows as the design
states them (never read from the rule text), plus the pipeline: the shipped config's poll
interval, the simulator's indexing lag, a scrape and a rule evaluation.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from poller.simulator import SimulatorSettings
from poller.simulator.activity import MINUTE_MS, rate
from poller.simulator.engine import Engine
from poller.simulator.flowfaults import FAULT_KINDS, FlowFault
from poller.simulator.org import Flow
from tests.alerting import generate as g
from tests.alerting.week import FLOWS, MARGIN, SEED
from tests.support.ruletests import PromtoolResult, run_all

DAY = "2026-05-13"  # a Wednesday
TIMES = ("03:00", "10:00", "14:00", "20:00")  # UTC
SLOW_FACTOR = 3.0
MIN = 60.0

ALERT_OF = {
    "stop": "GenesysCloudFlowNoEntries",
    "fail": "GenesysCloudFlowFailureBudgetBurn",
    "hangup": "GenesysCloudFlowDisconnectsHigh",
    "slow": "GenesysCloudFlowSlow",
    "milestone-drop": "GenesysCloudFlowMilestoneDropped",
}
# The volume classes, in entries per minute over the stretch the alert reads.
FIVE_SECONDS = 12.0  # at least one entry every 5 s
ONE_MINUTE = 1.0  # at least one a minute
FEW_AN_HOUR = 0.25  # at most 15 an hour


def pipeline(every: float, lag: float) -> float:
    """From a fault's effect being visible in a poll's answer to an evaluation seeing it: the
    indexing lag, up to one poll interval, one scrape and one evaluation (15 s each)."""
    return lag + every + 2 * g.SCRAPE_SECONDS


@dataclass(frozen=True, slots=True)
class Expectation:
    kind: str
    volume: str  # "5s", "minute" or "hour"
    flow: Flow
    target: float | None  # seconds from the fault to firing at the latest; None: must not fire
    why: str
    quiet: float = 0.0  # target None: seconds after the fault during which nothing may fire


def _p90_seconds(flow: Flow) -> float:
    return flow.durations[int(len(flow.durations) * 0.9)] / 1000


def _slowed_p90_seconds(flow: Flow) -> float:
    """The p90 under the `slow` fault: the simulator caps an execution at 20 minutes."""
    return min(SLOW_FACTOR * _p90_seconds(flow), 20 * MIN)


def target(kind: str, volume: str, flow: Flow, lag: float) -> tuple[float | None, str]:
    """The latest time (s after the fault) the alert must fire on a flow of this class, with
    the reasoning; None for a class whose volume makes the fault undetectable by then."""
    counted = pipeline(15.0, lag)
    milestones = pipeline(30.0, lag)
    tail = 3 * MIN  # executions begun before the fault leaving the window's completions
    if volume == "hour":
        return None, "a few entries an hour: too few to tell the fault from chance that soon"
    if kind in ("stop", "fail"):
        if volume == "5s":
            return 2 * MIN, "issue target for >= 1 entry per 5 s"
        return 15 * MIN, "issue target for >= 1 entry per minute"
    held = 5 * MIN  # the alerts' `for`
    if kind == "hangup":
        return (
            15 * MIN + tail + held + counted,
            "15m window of completions all after the fault, + 3m tail + 5m for + pipeline",
        )
    if kind == "milestone-drop":
        return (
            15 * MIN + tail + held + milestones,
            "15m window of entries all after the fault, + 3m tail + 5m for + pipeline (30 s poll)",
        )
    assert kind == "slow"
    slowed = _slowed_p90_seconds(flow)
    return (
        slowed + 10 * MIN + held + counted,
        f"slowed p90 completes ({slowed:.0f}s) + 10m window + 5m for + pipeline",
    )


# Entries per minute a class needs over the alert's window, per kind, for its minimum count to be
# met half again over: hangup 30 completed in 15m, slow 30 in 10m, milestone-drop 20 reached in
# 15m at a share of 0.3 per entry or more (67 entries).
NEEDS = {"stop": ONE_MINUTE, "fail": ONE_MINUTE, "hangup": 3.0, "milestone-drop": 7.0, "slow": 4.5}


def _rates(flow: Flow, lo: float, hi: float) -> tuple[float, float]:
    """(lowest, highest) expected entries per minute of the flow in [lo, hi) (epoch s)."""
    minutes = range(int(lo * 1000) // MINUTE_MS, int(hi * 1000) // MINUTE_MS + 1)
    values = [rate(flow, m) for m in minutes]
    return min(values), max(values)


def plan(engine: Engine, fault_at: float, lag: float) -> list[Expectation]:
    """Which flow gets which fault: per kind and volume class, the flow hardest for the check
    (the quietest that still belongs to a detectable class, the busiest of the quiet class),
    each flow once. A class no flow belongs to at that hour is left out."""
    used: set[str] = set()
    out: list[Expectation] = []
    lo, hi = fault_at - 3600.0, fault_at + 45 * MIN
    rates = {f.id: _rates(f, lo, hi) for f in engine.org.flows}
    milestones = {f.id: max((m.reach for m in f.milestones), default=0.0) for f in engine.org.flows}
    classes: list[tuple[str, Callable[[str, Flow], bool], bool]] = [
        ("5s", lambda kind, f: rates[f.id][0] >= max(FIVE_SECONDS, NEEDS[kind]), False),
        ("minute", lambda kind, f: NEEDS[kind] <= rates[f.id][0] < FIVE_SECONDS, False),
        ("hour", lambda kind, f: rates[f.id][1] <= FEW_AN_HOUR, True),
    ]
    for kind in FAULT_KINDS:
        for volume, belongs, busiest in classes:
            fits = [
                f
                for f in engine.org.flows
                if f.id not in used
                and belongs(kind, f)
                and (kind != "milestone-drop" or milestones[f.id] >= 0.3)
                # GenesysCloudFlowSlow looks for a p90 over twice the baseline: a flow whose
                # slowed executions the simulator's cap keeps under 2.5 times is not slowed enough.
                and (kind != "slow" or _slowed_p90_seconds(f) >= 2.5 * _p90_seconds(f))
            ]
            if not fits:
                continue
            pick = (max if busiest else min)(fits, key=lambda f: rates[f.id][0])
            used.add(pick.id)
            limit, why = target(kind, volume, pick, lag)
            # A quiet flow must stay quiet at least as long as a flow of the next class up may
            # take to fire: later, a long window may see its fault (not a false alarm).
            quiet = target(kind, "minute", pick, lag)[0] or 0.0
            if kind == "fail":
                # Failed outcomes are evidence themselves: the executions already running when
                # it broke complete theirs as failures, several per execution, so even a quiet
                # flow may rightly reach the burn tiers' 5 failures within minutes.
                quiet = 0.0
            out.append(Expectation(kind, volume, pick, limit, why, quiet if limit is None else 0.0))
    return out


@dataclass(frozen=True, slots=True)
class Scenario:
    time: str  # HH:MM UTC
    fault_at: float  # epoch s
    span: g.Span
    expectations: tuple[Expectation, ...]
    flows: tuple[Flow, ...]  # those in the test: the broken ones and unbroken ones beside them


# Unbroken flows in each test beside the broken ones, spread over the volume range (None: all):
# every other flow in the org costs promtool time and is watched by the week's test anyway.
CONTROLS: int | None = 3


def scenario(
    at: str,
    settings: SimulatorSettings | None = None,
    lookback: float | None = None,
    controls: int | None = CONTROLS,
) -> tuple[Scenario, Engine]:
    """The faults at `at` on the org's flows (see `plan`), and the engine that has them."""
    settings = settings or SimulatorSettings(seed=SEED, flows=FLOWS)
    engine = g.engine(settings)
    fault_at = g.utc(f"{DAY}T{at}:00")
    expectations = plan(engine, fault_at, settings.lag)
    for e in expectations:
        fault = FlowFault(e.kind, round(fault_at * 1000), SLOW_FACTOR)
        engine.set_flow_fault(e.flow.id, fault)
    history = (g.rules_lookback() if lookback is None else lookback) + MARGIN
    longest = max((e.target or 0.0) for e in expectations)
    start = fault_at - history
    steps = int((history + longest + 2 * MIN) // g.SCRAPE_SECONDS) + 1
    broken = {e.flow.id for e in expectations}
    others = sorted(
        (f for f in engine.org.flows if f.id not in broken), key=lambda f: f.peak, reverse=True
    )
    if controls is not None:
        stride = max(1, len(others) // max(controls, 1))
        others = others[::stride][:controls]
    flows = tuple(f for f in engine.org.flows if f.id in broken or f in others)
    return Scenario(at, fault_at, g.Span(start, steps), tuple(expectations), flows), engine


def _firing(matchers: str, window: float) -> str:
    return (
        f'max by (alertname, flow_id) (max_over_time(ALERTS{{alertstate="firing"{matchers}}}'
        f"[{g.duration(window)}]))"
    )


def _none(matchers: str, at: float) -> dict[str, object]:
    """Nothing matching `matchers` fired at any evaluation up to `at` (promtool time)."""
    return {
        "expr": g.first_firing(matchers, at + g.SCRAPE_SECONDS),
        "eval_time": g.duration(at),
        "exp_samples": [],
    }


def checks(s: Scenario) -> list[dict[str, object]]:
    """The scenario's promql_expr_test entries (see the module's docstring)."""
    at = s.span.promtool_time(s.fault_at)
    end = s.span.promtool_time(s.span.end)
    out: list[dict[str, object]] = [_none("", at)]
    seen = [e for e in s.expectations if e.target is not None]
    for e in seen:
        assert e.target is not None
        # Rounded up to the evaluation grid: the evaluation at or just after the target.
        when = math.ceil((at + e.target) / g.SCRAPE_SECONDS) * g.SCRAPE_SECONDS
        matchers = f',alertname="{ALERT_OF[e.kind]}",flow_id="{e.flow.id}"'
        out.append(
            {
                "expr": _firing(matchers, when - at),
                "eval_time": g.duration(when),
                "exp_samples": [
                    {
                        "labels": f'{{alertname="{ALERT_OF[e.kind]}",flow_id="{e.flow.id}"}}',
                        "value": 1,
                    }
                ],
            }
        )
    for e in s.expectations:
        if e.target is None and e.quiet > 0:
            out.append(_none(f',flow_id="{e.flow.id}"', at + e.quiet))
    broken = "|".join(e.flow.id for e in s.expectations)
    out.append(_none(f',flow_id!~"{broken}"', end))
    return out


def _write(
    prefix: str,
    expr_tests: Callable[[Scenario], list[dict[str, object]]],
    at: str,
    directory: Path,
    settings: SimulatorSettings | None,
    rule_files: tuple[Path, ...],
) -> tuple[Path, Scenario]:
    lookback = g.rules_lookback(rule_files) if rule_files else None
    s, engine = scenario(at, settings, lookback)
    generated = g.generate(engine, s.span, flows=s.flows)
    path = directory / f"{prefix}-{at.replace(':', '')}.test.yml"
    g.write_test_file(path, generated, promql_expr_test=expr_tests(s), rule_files=rule_files)
    return path, s


def write_scenario(
    at: str,
    directory: Path,
    settings: SimulatorSettings | None = None,
    rule_files: tuple[Path, ...] = (),
) -> tuple[Path, Scenario]:
    """The promtool test of the faults at `at` (its own process may run this)."""
    return _write("faults", checks, at, directory, settings, rule_files)


@dataclass(frozen=True, slots=True)
class FaultsResult:
    scenarios: list[Scenario]
    results: list[PromtoolResult]
    generate_seconds: float
    promtool_seconds: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def failures(self) -> str:
        """The failed scenarios' promtool output, with what fired when and on which flow."""
        return "\n".join(
            f"{r.path.name}:\n{g.describe(r.output, s.span, {f.id: f.name for f in s.flows})}"
            for s, r in zip(self.scenarios, self.results, strict=True)
            if not r.ok
        )


def _write_all(
    writer: Callable[..., tuple[Path, Scenario]],
    directory: Path,
    times: tuple[str, ...],
    workers: int,
    rule_files: tuple[Path, ...],
) -> list[tuple[Path, Scenario]]:
    """Each time of day's file by `writer`, in parallel processes: the engine is the cost."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(
            pool.map(
                writer,
                times,
                [directory] * len(times),
                [None] * len(times),
                [rule_files] * len(times),
            )
        )


def run_faults(
    directory: Path,
    *,
    times: tuple[str, ...] = TIMES,
    workers: int | None = None,
    rule_files: tuple[Path, ...] = (),
) -> FaultsResult:
    """Writes each time of day's test and runs them through promtool (both in parallel),
    timing both."""
    workers = workers or os.cpu_count() or 1
    begun = time.monotonic()
    written = _write_all(write_scenario, directory, times, workers, rule_files)
    generated = time.monotonic()
    results = run_all([path for path, _ in written], workers)
    return FaultsResult(
        [s for _, s in written], results, generated - begun, time.monotonic() - generated
    )


def table(scenarios: list[Scenario]) -> str:
    """The asserted targets, one line per fault: time of day, kind, volume, flow, target."""
    lines = []
    for s in scenarios:
        for e in s.expectations:
            rate_lo = _rates(e.flow, s.fault_at - 3600.0, s.fault_at + 45 * MIN)[0]
            if e.target is not None:
                limit = f"<= {e.target / 60:.1f} min"
            elif e.quiet:
                limit = f"nothing for {e.quiet / 60:.1f} min"
            else:
                limit = "not asserted"
            lines.append(
                f"{s.time} {e.kind:<15} {e.volume:<6} {e.flow.name:<24} "
                f"{rate_lo:7.2f}/min  {ALERT_OF[e.kind]:<34} {limit}  ({e.why})"
            )
    return "\n".join(lines)


# -- measured, for the benchmark ---------------------------------------------------------------


def probes(s: Scenario) -> list[dict[str, object]]:
    """promql_expr_test entries that fail on purpose, for their output: per broken flow, the
    seconds from the fault to the first evaluation its alert fired at (none: never fired)."""
    at = s.span.promtool_time(s.fault_at)
    end = s.span.promtool_time(s.span.end)
    out: list[dict[str, object]] = []
    for e in s.expectations:
        matchers = f'alertstate="firing",alertname="{ALERT_OF[e.kind]}",flow_id="{e.flow.id}"'
        first = f"min_over_time(timestamp(ALERTS{{{matchers}}})[{g.duration(end - at)}:15s])"
        out.append(
            {
                "expr": f"min by (alertname, flow_id) ({first}) - {at:.0f}",
                "eval_time": g.duration(end),
                "exp_samples": [{"labels": "{}", "value": -1}],
            }
        )
    return out


def measured(output: str) -> dict[tuple[str, str], float]:
    """(alert, flow id) -> seconds to fire, from the output of a run with `probes`."""
    return {(a, f): v for a, f, v in g.fired(output)}


def write_probes(
    at: str,
    directory: Path,
    settings: SimulatorSettings | None = None,
    rule_files: tuple[Path, ...] = (),
) -> tuple[Path, Scenario]:
    """The scenario at `at` with the probes instead of the checks."""
    return _write("probes", probes, at, directory, settings, rule_files)


def measure_faults(
    directory: Path,
    *,
    times: tuple[str, ...] = TIMES,
    workers: int | None = None,
    rule_files: tuple[Path, ...] = (),
) -> list[tuple[Scenario, Expectation, float | None]]:
    """Per scenario and fault: the measured seconds from the fault to its alert firing (None:
    it never fired in the scenario's span), for the benchmark's table beside the targets."""
    workers = workers or os.cpu_count() or 1
    written = _write_all(write_probes, directory, times, workers, rule_files)
    results = run_all([path for path, _ in written], workers)
    out: list[tuple[Scenario, Expectation, float | None]] = []
    for (_, s), result in zip(written, results, strict=True):
        got = measured(result.output)
        for e in s.expectations:
            out.append((s, e, got.get((ALERT_OF[e.kind], e.flow.id))))
    return out
