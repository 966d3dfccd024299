"""A simulated week of normal traffic through the shipped rules: no alert of any kind fires.

The week is cut into days, each a promtool test of its own so that days run in parallel: a day
starts when the shipped counter queries' period has just settled (so the poller's first polls
count from a fresh period) and runs on past the next day's start by the rules' lookback, so
every moment of the week is evaluated once with all the history the rules read. Each test
checks that ALERTS never held a firing alert anywhere in it, warm-up included: a poller started
that morning must not page either.

`python -m tests.bench --only alerts` calls `run_week` for the full week's figures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from poller.config.model import Config
from poller.periods import period_at
from poller.simulator import SimulatorSettings
from poller.simulator.org import Org
from tests.alerting import generate as g
from tests.support.ruletests import PromtoolResult, run_all

SEED = 7
FLOWS = 50
WEEK_START = "2026-05-11T00:00:00"  # a Monday
DAY = 86400.0
MARGIN = 3600.0  # history beyond the rules' own lookback: the guards' "enough history" checks


@dataclass(frozen=True, slots=True)
class Chunk:
    day: int  # 0 = Monday
    span: g.Span
    flows: tuple[int, ...] = ()  # indices of the org's flows in it (none: all)


def day_chunks(
    config: Config, days: int = 7, lookback: float | None = None, first: int = 0
) -> list[Chunk]:
    """Days `first`..`first + days - 1` of the week, each from its local period start (after
    the settle) to the next one's plus the rules' lookback."""
    query = g.counter_queries(config)[0]
    zone = ZoneInfo(query.time_zone)
    history = (g.rules_lookback() if lookback is None else lookback) + MARGIN
    out = []
    for day in range(first, first + days):
        noon = datetime.fromtimestamp(g.utc(WEEK_START) + day * DAY + DAY / 2, UTC)
        start, end = period_at(noon, query.period, zone)
        begin = start.timestamp() + query.settle
        steps = int((end.timestamp() - start.timestamp() + history) // g.SCRAPE_SECONDS) + 1
        out.append(Chunk(day, g.Span(begin, steps)))
    return out


def no_alert_check(span: g.Span) -> dict[str, object]:
    """A promql_expr_test: at the span's end, no alert was firing at any evaluation in it."""
    seconds = span.promtool_time(span.end)
    return {
        "expr": g.first_firing("", seconds + g.SCRAPE_SECONDS),
        "eval_time": g.duration(seconds),
        "exp_samples": [],
    }


def presence_check(generated: g.Generated) -> dict[str, object]:
    """A promql_expr_test that the rules saw the flows: how many flows have an entries counter
    at the span's end (so that "no alert" cannot come from series the rules never read)."""
    end = generated.span.steps - 1
    flows = {
        dict(labels)["flow_id"]
        for labels, values in generated.values("genesyscloud_flow_entries_total").items()
        if values[end] == values[end]  # not NaN
    }
    return {
        "expr": "count(count by (flow_id) (genesyscloud_flow_entries_total))",
        "eval_time": g.duration(generated.span.promtool_time(generated.span.end)),
        "exp_samples": [{"labels": "{}", "value": len(flows)}],
    }


def write_chunk(
    chunk: Chunk,
    directory: Path,
    seed: int = SEED,
    flows: int = FLOWS,
    rule_files: tuple[Path, ...] = (),
) -> Path:
    """The promtool test of one day, or of some of its flows (its own process may run this:
    everything is rebuilt)."""
    settings = SimulatorSettings(seed=seed, flows=flows)
    engine = g.engine(settings)
    chosen = [engine.org.flows[i] for i in chunk.flows]
    generated = g.generate(engine, chunk.span, flows=chosen)
    part = f"-flows{chunk.flows[0]}" if chunk.flows else ""
    path = directory / f"week-day{chunk.day}{part}.test.yml"
    return g.write_test_file(
        path,
        generated,
        promql_expr_test=[presence_check(generated), no_alert_check(chunk.span)],
        rule_files=rule_files,
    )


@dataclass(frozen=True, slots=True)
class WeekResult:
    chunks: list[Chunk]
    results: list[PromtoolResult]
    generate_seconds: float  # wall time to write every file
    promtool_seconds: float  # wall time of all promtool runs

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def failures(self) -> str:
        """The failed days' promtool output, with what fired when and on which flow."""
        names = {f.id: f.name for f in Org(SEED, FLOWS).flows}  # the default org's
        return "\n".join(
            f"{r.path.name}:\n{g.describe(r.output, c.span, names)}"
            for c, r in zip(self.chunks, self.results, strict=True)
            if not r.ok
        )


def by_volume(seed: int = SEED, flows: int = FLOWS, every: int = 1) -> list[int]:
    """Indices of the org's flows from the busiest to the quietest, every `every`-th one: a
    subset that still spans the whole volume range."""
    org = Org(seed, flows)
    ranked = sorted(range(len(org.flows)), key=lambda i: org.flows[i].peak, reverse=True)
    return ranked[::every]


def run_week(
    directory: Path,
    *,
    days: int = 7,
    first: int = 0,
    workers: int | None = None,
    seed: int = SEED,
    flows: int = FLOWS,
    subset: Sequence[int] = (),
    groups: int = 1,
    rule_files: tuple[Path, ...] = (),
) -> WeekResult:
    """Writes the days' tests (in parallel processes) and runs them through promtool (in
    parallel too), timing both. `subset`: only these flows (indices; default all); `groups`:
    each day's flows split into that many tests, which run in parallel with no warm-up twice
    (promtool's cost grows with series x rules x evaluations, the flows are independent)."""
    workers = workers or os.cpu_count() or 1
    lookback = g.rules_lookback(rule_files)
    indices = list(subset) or list(range(flows))
    parts = [tuple(sorted(indices[k::groups])) for k in range(groups)]
    chunks = [
        Chunk(c.day, c.span, part)
        for c in day_chunks(g.shipped_config(), days, lookback, first=first)
        for part in parts
    ]
    begun = time.monotonic()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        paths = list(
            pool.map(
                write_chunk,
                chunks,
                [directory] * len(chunks),
                [seed] * len(chunks),
                [flows] * len(chunks),
                [rule_files] * len(chunks),
            )
        )
    written = time.monotonic()
    results = run_all(paths, workers)
    return WeekResult(chunks, results, written - begun, time.monotonic() - written)
