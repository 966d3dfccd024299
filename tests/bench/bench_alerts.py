"""Benchmark 6: alert detection time, from a fault in the simulator to a notification out of a
real Alertmanager, and no flow alert while only the poller is broken.

The pipeline is the end-to-end test's (tests/support/alertstack.py): `simulate` -> one `run`
per org with the shipped config/poller.yaml -> Prometheus with the shipped prometheus.yml and
rules -> Alertmanager with the shipped alertmanager.yml -> a webhook receiver in this process.
Once Prometheus holds the history the rules need, every fault goes in at one moment, each on
its own flow of the `flows` org: each kind (stop, fail, hangup, slow, milestone-drop) at each
traffic level (at least one entry every 5 s; at least one a minute; a few an hour), the levels
read from the simulator's own rate function for the minutes ahead. At the same moment three
other orgs lose their poller's side: every API request answers 503 (`stormed`), the OAuth client
is disabled and the poller restarted (`refused`), the poller is SIGKILLed (`killed`).

Figures: per fault and level, the seconds from the fault's moment to its alert firing in
Prometheus (the first evaluation with ALERTS firing) and to its notification arriving, beside
the predicted worst case from the shipped intervals and the rule's window; per broken org, the
poller alerts notified and when, and the count of flow-level notifications (target 0), with
every flow alert of those orgs pending or firing in Prometheus over the watch.

Then the same again with push (issue 22): a new stack whose poller has `genesys.push.enabled`
and polls every query every 5 minutes, the simulator pushing flow aggregates; stop and fail on
the quietest flow busy enough for push's 30s silence and 1m burn tier to notify within 60 s
(the rate `detection.push_reach` gives), and on the quietest flow of one entry every 5 s; no
broken orgs. The polling pass faults flows of the same two classes. Both passes measure the
requests a minute the flows org's poller spends (its budget's places taken, before the faults),
and the figures are printed side by side. BENCH_ALERTS_SETUPS=polling or =push runs one pass.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench.common import BenchError, Section, table
from tests.support.alertstack import AlertStack, SimFlow, alert_stack
from tests.support.detection import (
    ALERT,
    Intervals,
    history_needed,
    predicted,
    push_reach,
    seconds,
    shipped_intervals,
)

FLOWS_ORG = "flows"
BROKEN = ("stormed", "refused", "killed")
FLOWS = 60
BROKEN_FLOWS = 12  # enough for a busy flow in each broken org, whose silence would page
LAG = 2.0  # the simulator's indexing lag, seconds
# History in Prometheus before the faults: what the baselines of the ticket alerts need on the
# busiest flows (their 6 hours end 15 minutes before the window). --quick measures stop and fail
# on busy flows only, whose rules need 7 minutes (10: a baseline of 15 minutes, not 7).
HISTORY = 17 * 60.0
QUICK_HISTORY = 10 * 60.0
# After the faults: the slowest fault the run can see (a milestone dropped: half of a 15-minute
# window, `for: 5m`) plus a margin; PollerDown's `for: 5m` is inside it.
WATCH = 16 * 60.0
QUICK_WATCH = 6 * 60.0
KINDS = ("stop", "fail", "hangup", "slow", "milestone-drop")
SLOW_FACTOR = 3.0
# The push pass: every query polled this often, and its watch (a busy flow's stop is seen by
# the 1m15s window at worst 103 s after it, a fail by the 2m tier after 93 s).
PUSH_EVERY = "5m"
PUSH_WATCH = 5 * 60.0
PUSH_TARGET = 60.0
SETUPS = ("polling", "push")


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    low: float  # entries per second, inclusive
    high: float  # exclusive
    target: float | None  # seconds, for stop and fail


LEVELS = (
    Level(">= 1 per 5 s", 0.2, math.inf, 120.0),
    Level(">= 1 per minute", 1 / 60, 0.2, 900.0),
    Level("a few per hour", 2 / 3600, 1 / 60, None),
)


def _reach_level(iv: Intervals, target: float) -> Level:
    """Flows busy enough for push to notify both stop and fail within a minute."""
    reach = max(push_reach(iv, LAG, PUSH_TARGET).values())
    return Level(f">= {math.ceil(reach * 60)} a minute", reach, math.inf, target)


@dataclass
class Cell:
    kind: str
    level: Level
    flow: SimFlow
    predicted: float | None  # seconds, None: no rule can see it at this volume
    history: float | None  # seconds of history its rule needs first
    armed: bool  # the run had that history when the faults went in
    fired: float | None = None  # seconds from the fault to ALERTS firing
    notified: float | None = None  # seconds from the fault to the notification


def _pick(
    flows: list[SimFlow], quick: bool, history: float, iv: Intervals | None = None
) -> list[Cell]:
    """A flow per (kind, level). stop and fail take the level's quietest flows (the targets are
    about the least traffic they name); the others its busiest, whose baselines fill first.
    First, stop and fail on the quietest flows push can see within a minute; with push (`iv`
    says) only those and the busy level's."""
    taken: set[str] = set()
    cells: list[Cell] = []
    iv = iv or shipped_intervals()
    reach = _reach_level(iv, PUSH_TARGET if iv.push else LEVELS[0].target or 0.0)
    levels = (reach, *(LEVELS[:1] if quick or iv.push else LEVELS))
    for level in levels:
        pool = sorted(
            (f for f in flows if level.low <= f.per_second < level.high),
            key=lambda f: f.per_second,
        )
        for kind in ("stop", "fail") if quick or iv.push or level is reach else KINDS:
            ordered = pool if kind in ("stop", "fail") else pool[::-1]
            flow = next((f for f in ordered if f.id not in taken), None)
            if flow is None:
                continue
            taken.add(flow.id)
            needed = history_needed(kind, flow.per_second, iv.push)
            cells.append(
                Cell(
                    kind,
                    level,
                    flow,
                    predicted(kind, flow.per_second, iv, LAG, flow.duration),
                    needed,
                    needed is not None and needed <= history,
                )
            )
    return cells


def _wait_history(stack: AlertStack, history: float) -> None:
    """Until Prometheus holds `history` seconds of every org's scrapes."""
    expr = f"min(count_over_time(up[{int(history)}s]) * 15) >= {history - 30:g}"
    while not stack.prom.vector(expr):
        for org_poller in stack.pollers.values():
            if (why := org_poller.child.died()) is not None:
                raise BenchError(why)
        time.sleep(5)


def _first_firing(stack: AlertStack, alertname: str, flow_id: str, since: float) -> float | None:
    """When Prometheus first evaluated the alert as firing (time.time()), if it did."""
    answer = stack.prom.api(
        "query_range",
        query=f'ALERTS{{alertname="{alertname}", flow_id="{flow_id}", alertstate="firing"}}',
        start=f"{since:.3f}",
        end=f"{time.time():.3f}",
        step="5s",
    )
    stamps = [float(t) for s in answer["data"]["result"] for t, _ in s["values"]]
    return min(stamps) if stamps else None


def _note_unfaulted(section: Section, cells: list[Cell], iv: Intervals, setup: str) -> None:
    """Say which levels had no flow to fault: the simulator's traffic follows the UTC clock, and
    at night no flow is busy, so a run then measures nothing there (and meets no target)."""
    levels = [_reach_level(iv, 0.0).name, LEVELS[0].name]
    faulted = {c.level.name for c in cells}
    for name in levels:
        if name not in faulted:
            section.note(
                f"{setup}: no flow at {name} at this hour to fault (the simulator's traffic "
                "follows the UTC clock; run it in the day)"
            )


def _requests_per_minute(stack: AlertStack, org: str, span: float) -> float | None:
    """Requests a minute the org's poller spent over the last `span` seconds: its budget's
    places taken (every request to the API host, channel calls included; logins not)."""
    found = stack.prom.vector(
        f'sum(rate(genesyscloud_poller_api_budget_places_taken_total{{org="{org}"}}'
        f"[{int(span)}s])) * 60"
    )
    return float(found[0]["value"][1]) if found else None


@dataclass
class Pass:
    """One setup's figures for the side-by-side table."""

    cells: list[Cell]
    requests_per_minute: float | None


def _measure(section: Section, tmp: Path) -> Pass:
    iv = shipped_intervals()
    history = QUICK_HISTORY if section.quick else HISTORY
    watch = QUICK_WATCH if section.quick else WATCH
    orgs = {FLOWS_ORG: FLOWS} | dict.fromkeys(BROKEN, BROKEN_FLOWS)
    with alert_stack(tmp, orgs, lag=LAG) as stack:
        print(f"  waiting for {history / 60:g} min of history in Prometheus ...", flush=True)
        _wait_history(stack, history)
        spent = _requests_per_minute(stack, FLOWS_ORG, history - 120)
        faulted = time.time()
        cells = _pick(stack.flows_by_rate(FLOWS_ORG, faulted), section.quick, history)
        _note_unfaulted(section, cells, iv, "polling")
        for cell in cells:
            factor = SLOW_FACTOR if cell.kind == "slow" else None
            stack.flow_fault(cell.flow, cell.kind, faulted, factor)
        stack.org_faults("stormed", {"503": 1})
        stack.org_faults("refused", {"client_disabled": True})
        stack.restart_poller("refused")  # a running poller keeps its token; a new one logs in
        stack.kill_poller("killed")
        print(f"  {len(cells)} flow faults and 3 broken pollers; watching up to "
              f"{watch / 60:g} min ...", flush=True)  # fmt: skip
        _watch(stack, cells, faulted, watch)
        ended = time.time()
        _report_cells(section, cells, iv)
        _report_breaks(section, stack, faulted, ended)
        _report_unfaulted(section, stack, cells, "")
        # The simulator's normal traffic holds executions of up to 20 minutes, which
        # GenesysCloudFlowExecutionStuck (over 15) reports: counted, not a fault's.
        stuck = {
            alert["labels"].get("flow_id")
            for _, alert in stack.notified(
                stack.started, org=FLOWS_ORG, alertname="GenesysCloudFlowExecutionStuck"
            )
        }
        section.figures["execution_stuck_flows"] = len(stuck)
        section.note(
            f"GenesysCloudFlowExecutionStuck notified for {len(stuck)} of {FLOWS} flows "
            "(executions over 15 min in the simulator's normal traffic)"
        )
    return Pass(cells, spent)


def _report_unfaulted(section: Section, stack: AlertStack, cells: list[Cell], setup: str) -> None:
    """The target of no fault alert notified for a flow of the flows org without a fault;
    `setup` ("" or "push") prefixes its figure and its target."""
    faulted_ids = {c.flow.id for c in cells}
    false = sorted(
        {
            (alert["labels"].get("flow_id", ""), name)
            for name in ALERT.values()
            for _, alert in stack.notified(stack.started, org=FLOWS_ORG, alertname=name)
            if alert["labels"].get("flow_id") not in faulted_ids
        }
    )
    prefix = f"{setup}_" if setup else ""
    section.figures[f"{prefix}unfaulted_flows_notified"] = false
    section.target(
        f"{setup + ': ' if setup else ''}no fault alert for a flow without a fault",
        not false,
        f"{len({f for f, _ in false})} of {FLOWS - len(faulted_ids)} flows: "
        + (", ".join(f"{name} on {flow}" for flow, name in false) or "none"),
    )


def _measure_push(section: Section, tmp: Path) -> Pass:
    """The push pass: the flows org alone, push on, every query polled every 5 minutes."""
    iv = shipped_intervals(push_every=seconds(PUSH_EVERY))
    history = QUICK_HISTORY if section.quick else HISTORY
    with alert_stack(tmp, {FLOWS_ORG: FLOWS}, lag=LAG, push_every=PUSH_EVERY) as stack:
        print(f"  push: waiting for {history / 60:g} min of history in Prometheus ...", flush=True)
        _wait_history(stack, history)
        spent = _requests_per_minute(stack, FLOWS_ORG, history - 120)
        pushed = {
            s["metric"].get("query", "?"): float(s["value"][1])
            for s in stack.prom.vector("genesyscloud_poller_query_pushed")
        }
        section.figures["push_query_pushed"] = pushed
        print(
            f"  push: genesyscloud_poller_query_pushed per query {pushed or 'absent'}", flush=True
        )
        faulted = time.time()
        cells = _pick(stack.flows_by_rate(FLOWS_ORG, faulted), section.quick, history, iv)
        _note_unfaulted(section, cells, iv, "push")
        for cell in cells:
            stack.flow_fault(cell.flow, cell.kind, faulted)
        print(f"  push: {len(cells)} flow faults; watching up to {PUSH_WATCH / 60:g} min ...",
              flush=True)  # fmt: skip
        _watch(stack, cells, faulted, PUSH_WATCH, broken=False)
        _report_cells(section, cells, iv, "push")
        _report_unfaulted(section, stack, cells, "push")
    return Pass(cells, spent)


def _watch(
    stack: AlertStack, cells: list[Cell], faulted: float, watch: float, broken: bool = True
) -> None:
    """Until every armed cell is notified and (with the broken orgs) the killed org's
    PollerDown too, or the watch is over."""
    end = faulted + watch
    while time.time() < end:
        for cell in cells:
            if cell.notified is None:
                labels = {"alertname": ALERT[cell.kind], "flow_id": cell.flow.id}
                found = stack.notified(faulted, **labels)
                if found:
                    cell.notified = found[0][0] - faulted
                    fired = _first_firing(stack, ALERT[cell.kind], cell.flow.id, faulted)
                    cell.fired = None if fired is None else fired - faulted
                    print(f"  {cell.kind} at {cell.level.name}: notified after "
                          f"{cell.notified:.0f} s", flush=True)  # fmt: skip
        poller_down = not broken or stack.notified(
            faulted, alertname="GenesysCloudPollerDown", org="killed"
        )
        if all(c.notified is not None for c in cells if c.armed) and poller_down:
            return
        time.sleep(5)


def _fmt(value: float | None) -> object:
    return "-" if value is None else round(value)


def _report_cells(section: Section, cells: list[Cell], iv: Intervals, setup: str = "") -> None:
    print(
        f"\n  {setup + ': ' if setup else ''}"
        f"{'push on, ' if iv.push else ''}shipped intervals: poll {iv.poll:g} s "
        f"(milestones {iv.milestone_poll:g} s), "
        f"scrape {iv.scrape:g} s, evaluation {iv.evaluation:g} s, group_wait "
        + ", ".join(f"{k} {v:g} s" for k, v in sorted(iv.group_wait.items()))
        + f"; simulator lag {LAG:g} s"
    )
    rows = []
    for cell in cells:
        if cell.history is None:
            seen = "no rule can see it at this volume"
        elif not cell.armed:
            seen = f"needs {cell.history / 60:.0f} min of history first"
        else:
            seen = ""
        rows.append(
            [
                cell.kind,
                cell.level.name,
                round(cell.flow.per_second * 3600),
                _fmt(cell.fired),
                _fmt(cell.notified),
                _fmt(cell.predicted),
                _fmt(cell.level.target) if cell.kind in ("stop", "fail") else "",
                seen,
            ]
        )
    headers = ["fault", "traffic", "entries/h", "fired s", "notified s", "predicted s",
               "target s", ""]  # fmt: skip
    print("\n" + table(headers, rows))
    prefix = f"{setup}_" if setup else ""
    section.figures[prefix + "intervals"] = {
        "poll": iv.poll,
        "milestone_poll": iv.milestone_poll,
        "scrape": iv.scrape,
        "evaluation": iv.evaluation,
        "group_wait": iv.group_wait,
        "lag": LAG,
        "push": iv.push,
    }
    section.figures[prefix + "detection"] = [
        {
            "fault": c.kind,
            "traffic": c.level.name,
            "entries_per_hour": round(c.flow.per_second * 3600, 1),
            "fired_s": c.fired,
            "notified_s": c.notified,
            "predicted_s": c.predicted,
            "history_needed_s": c.history,
            "armed": c.armed,
        }
        for c in cells
    ]
    for cell in cells:
        if cell.kind in ("stop", "fail") and cell.level.target is not None:
            met = cell.notified is not None and cell.notified <= cell.level.target
            section.target(
                f"{setup + ': ' if setup else ''}{cell.kind} notified within "
                f"{cell.level.target:g} s at {cell.level.name}",
                met,
                f"{_fmt(cell.notified)} s",
            )


def _report_breaks(section: Section, stack: AlertStack, faulted: float, ended: float) -> None:
    """Per broken org: the poller alerts that started since the break and when each was first
    notified, and the flow alerts that started (notified; pending or firing in Prometheus)."""
    rows = []
    figures = {}
    for org in BROKEN:
        about = [(at - faulted, alert["labels"]) for at, alert in stack.notified(faulted, org=org)]
        flow_notes = [a for _, a in about if a.get("component") != "poller"]
        started = stack.alerts_started(f'component="flow", org="{org}"', faulted, ended)
        first: dict[str, float] = {}
        for after, labels in about:
            first.setdefault(labels.get("alertname", "?"), after)
        rows.append(
            [
                org,
                ", ".join(f"{name} {after:.0f} s" for name, after in sorted(first.items())) or "-",
                len(flow_notes),
                len(started),
            ]
        )
        figures[org] = {
            "poller_alerts_notified_s": {k: round(v) for k, v in first.items()},
            "flow_notifications": len(flow_notes),
            "flow_alerts_started": started,
        }
        section.target(
            f"no flow alert while {org}'s poller is broken",
            not flow_notes and not started,
            f"{len(flow_notes)} notified, {len(started)} pending or firing",
        )
    headers = ["broken org", "poller alerts, first notified after", "flow notified",
               "flow pending or firing"]  # fmt: skip
    print("\n" + table(headers, rows))
    section.figures["breaks"] = figures
    section.figures["watched_s"] = round(ended - faulted)


def _side_by_side(section: Section, passes: dict[str, Pass]) -> None:
    """stop and fail per traffic class in each setup, and the requests a minute each spent."""
    names = {"polling": "polling only (shipped)", "push": f"push, polls every {PUSH_EVERY}"}
    classes = sorted(
        {(c.kind, c.level.name, c.level.low) for p in passes.values() for c in p.cells
         if c.kind in ("stop", "fail")},
        key=lambda k: (k[0], -k[2]),
    )  # fmt: skip
    rows = []
    for setup, found in passes.items():
        by_class = {(c.kind, c.level.name): c for c in found.cells}
        spent = found.requests_per_minute
        row: list[object] = [names.get(setup, setup), "-" if spent is None else f"{spent:.1f}"]
        for kind, level, _low in classes:
            cell = by_class.get((kind, level))
            row.append(
                "-" if cell is None
                else f"{_fmt(cell.notified)} ({round(cell.flow.per_second * 60)}/min, "
                f"predicted {_fmt(cell.predicted)})"
            )  # fmt: skip
        rows.append(row)
    headers = ["setup", "requests/min", *(f"{kind} at {level}" for kind, level, _ in classes)]
    print("\n  notified s (entries a minute, predicted worst case s), side by side:")
    print(table(headers, rows))
    section.figures["requests_per_minute"] = {
        setup: found.requests_per_minute for setup, found in passes.items()
    }


async def run(section: Section) -> None:
    setups = [s for s in os.environ.get("BENCH_ALERTS_SETUPS", ",".join(SETUPS)).split(",") if s]
    unknown = set(setups) - set(SETUPS)
    if unknown:
        raise BenchError(f"BENCH_ALERTS_SETUPS: unknown setup {sorted(unknown)}; one of {SETUPS}")
    passes: dict[str, Pass] = {}
    for setup in setups:
        measure = _measure_push if setup == "push" else _measure
        with tempfile.TemporaryDirectory(prefix=f"bench-alerts-{setup}-") as tmp:
            passes[setup] = await asyncio.to_thread(measure, section, Path(tmp))
    _side_by_side(section, passes)
