"""promtool unit tests generated from the simulator's engine: what the poller would expose and
Prometheus would scrape, step by step, for a seeded org (and per-flow faults), written as
`promtool test rules` files.

The series are those of the shipped config's counter-mode queries (config/poller.yaml), at its
cadence: each query polls every `every` from the poller's start and asks for the period
`poller.periods` says it shows (the closed one while it settles), the simulator answers what
became visible by then (its indexing lag after it happened), and Prometheus scrapes every 15 s
what the last poll published. Counters of flows absent from a period's answer are held at 0 (the
store's zero fill), histograms and summaries vanish (a stale marker). Beside them: the self-
metrics the rules read, `up` and `genesyscloud_flow_info`.

Per flow and query, every record of the span is read once from the engine's activity and
filed under its cell (group, metric or view); a poll's value is then a bisection in the cell's
sorted stamps. A test compares the result with the real poller's /metrics (test_generate.py).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from heapq import heappop, heappush
from itertools import accumulate
from pathlib import Path
from typing import Any

import msgspec
import yaml

from poller.alertfeeds import KPI_DIMENSIONS
from poller.config import parse_config
from poller.config.model import Config, QueryConfig
from poller.counters import counter_spec
from poller.families import (
    OBSERVATIONS_TRUNCATED,
    OLDEST_EXECUTION_AGE,
    count_family,
    counter_families,
    distribution_family,
    metric,
)
from poller.genesys.queries import request_body
from poller.normalize import aggregate_buckets
from poller.periods import shown_period
from poller.responses import AggregateResponse
from poller.scope import series_labels
from poller.simulator import SimulatorSettings
from poller.simulator.activity import (
    AT_SHIFT,
    KEY_MASK,
    KEY_SHIFT,
    MINUTE_MS,
    SPAN_SHIFT,
    VALUE_MASK,
)
from poller.simulator.engine import OBSERVATION_DETAIL_LIMIT, Engine
from poller.simulator.org import MAX_DURATION_MS, Flow, Org
from poller.simulator.query import AggregateQuery, ViewSpec
from poller.simulator.validation import validate_aggregate, validate_observation
from poller.store import ZERO_FILL_SECONDS

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = ROOT / "config" / "poller.yaml"
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
PROMETHEUS_YML = ROOT / "deploy" / "prometheus" / "prometheus.yml"
# The shipped scrape and evaluation interval (deploy/prometheus/prometheus.yml).
SCRAPE_SECONDS = 15.0
JOB = "genesyscloud-poller"
INSTANCE = "poller:9864"
# Scrapes come this long after the polls of the same 15 s step: the answer is published by then.
SCRAPE_AFTER_POLL = 5.0
P = "genesyscloud_poller_"
# The self-metrics generated per counter query (after the prefix P).
SELF_METRICS = (
    "query_up",
    "query_last_success_timestamp_seconds",
    "query_interval_seconds",
    "polls_total",
    "poll_failures_total",
    "query_settling",
)

Labels = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, Labels]  # (sample name, labels without job and instance)
MISSING = math.nan  # no sample at this scrape (a stale marker after a present one)


def shipped_config(path: Path = SHIPPED_CONFIG) -> Config:
    """The shipped example config, parsed as the daemon parses it (credentials from env)."""
    env = {"GENESYS_CLIENT_ID": "generator", "GENESYS_CLIENT_SECRET": "generator"}
    return parse_config(path.read_text(), source=str(path), env=env)


def engine(settings: SimulatorSettings) -> Engine:
    """The engine of the simulator's first org for `settings`: the same org, the same lag."""
    return Engine(Org(settings.seed, settings.flows), lag_ms=round(settings.lag * 1000))


def counter_queries(config: Config) -> tuple[QueryConfig, ...]:
    """The config's counter-mode aggregate queries the flow alerts read: the KPI queries (grouped
    by a KPI dimension) feed only the KPI rules, so their series are left out."""
    return tuple(
        q
        for q in config.queries
        if q.type == "aggregate"
        and q.mode == "counter"
        and not set(q.group_by) & set(KPI_DIMENSIONS)
    )


@dataclass(frozen=True, slots=True)
class Span:
    """The simulated stretch: the poller starts at `start` (epoch seconds, its first polls) and
    Prometheus scrapes `steps` times, the first `SCRAPE_AFTER_POLL` after the start."""

    start: float
    steps: int

    @property
    def epoch(self) -> float:
        """The epoch second promtool's time 0 stands for (its first scrape)."""
        return self.start + SCRAPE_AFTER_POLL

    @property
    def end(self) -> float:
        return self.epoch + (self.steps - 1) * SCRAPE_SECONDS

    def scrape(self, step: int) -> float:
        return self.epoch + step * SCRAPE_SECONDS

    def step_of(self, moment: float) -> int:
        """The first scrape at or after `moment` (epoch seconds)."""
        return max(0, math.ceil((moment - self.epoch) / SCRAPE_SECONDS))

    def promtool_time(self, moment: float) -> float:
        return moment - self.epoch


@dataclass(slots=True)
class Generated:
    """Per series (name, labels): its value at each scrape (MISSING: none)."""

    span: Span
    series: dict[SeriesKey, list[float]] = field(default_factory=dict)

    def put(self, key: SeriesKey, values: list[float]) -> None:
        self.series[key] = values

    def values(self, name: str, **labels: str) -> dict[Labels, list[float]]:
        """The series named `name` whose labels include `labels`."""
        want = set(labels.items())
        return {lab: v for (n, lab), v in self.series.items() if n == name and want <= set(lab)}


# -- one flow's records, cell by cell ------------------------------------------------------------

Group = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Poll:
    at: float  # epoch seconds
    lo: int  # the records it counts: stamped in [lo, hi) ms
    hi: int


@dataclass(frozen=True, slots=True)
class _Output:
    """One exported sample per group and cell (a timer has several)."""

    name: str
    cell: str  # the metric or view whose count (or sum) it shows
    sum: bool = False  # the cell's sum in seconds, not its count
    zero_fill: bool = False
    le: str | None = None  # a histogram bucket's bound
    present_if: str = ""  # the cell whose presence makes the sample's series exist


@dataclass(frozen=True, slots=True)
class _Query:
    """A counter query, prepared once: what it asks, its polls, its outputs."""

    config: QueryConfig
    asked: AggregateQuery
    polls: tuple[Poll, ...]
    outputs: tuple[_Output, ...]

    @property
    def wanted(self) -> set[str]:
        return set(self.asked.metrics) | {v.target for v in self.asked.views}


def polls(query: QueryConfig, span: Span, lag_ms: int) -> list[Poll]:
    """The query's polls over the span: every `every` from the start, each asking for the
    interval the real request carries, answered with what was visible `lag_ms` before."""
    out = []
    at = span.start
    while at <= span.end:
        asked = validate_aggregate(request_body(query, at))
        visible = int(at * 1000) - lag_ms + 1
        out.append(Poll(at, asked.bounds[0], min(asked.bounds[-1], visible)))
        at += query.every
    return out


def _outputs(query: QueryConfig, aq: AggregateQuery) -> tuple[_Output, ...]:
    spec = counter_spec(query)
    assert spec is not None, f"{query.name} is not a counter-mode query"
    out: list[_Output] = []
    for name in aq.metrics:
        kind = metric(name).kind
        if kind == "count":
            family = counter_families(name)[0].name
            out.append(_Output(family, name, zero_fill=True, present_if=name))
            continue
        if kind != "timer":
            raise ValueError(f"{name}: the generator handles count and timer metrics only")
        buckets = spec.buckets(name)
        family = distribution_family(name, view=False, histogram=buckets is not None).name
        for view, bound in buckets or ():
            seconds = bound / 1000
            le = str(int(seconds)) if seconds.is_integer() else repr(seconds)
            out.append(_Output(family + "_bucket", view, le=le, present_if=name))
        if buckets is not None:
            out.append(_Output(family + "_bucket", name, le="+Inf", present_if=name))
        out.append(_Output(family + "_sum", name, sum=True, present_if=name))
        out.append(_Output(family + "_count", name, present_if=name))
    bucket_views = spec.bucket_views()
    for other in aq.views:
        if other.name not in bucket_views:
            family = distribution_family(other.name, view=True, histogram=False).name
            out.append(_Output(family + "_sum", other.name, sum=True, present_if=other.name))
            out.append(_Output(family + "_count", other.name, present_if=other.name))
    return tuple(out)


def prepare(query: QueryConfig, span: Span, lag_ms: int) -> _Query:
    asked = validate_aggregate(request_body(query, span.start))
    return _Query(query, asked, tuple(polls(query, span, lag_ms)), _outputs(query, asked))


@dataclass(slots=True)
class _Cell:
    """One (group, metric or view) of one flow: the stamps of its records (sorted) and the
    running sum of their values (ms)."""

    stamps: list[int] = field(default_factory=list)
    sums: list[int] = field(default_factory=lambda: [0])


def _seal(items: list[int], start: int, view: ViewSpec | None = None) -> _Cell:
    """A cell from encoded records (absolute stamps), keeping those stamped from `start` on
    and, for a view, those in its range."""
    items.sort()
    items = items[bisect_left(items, start << AT_SHIFT) :]
    if view is not None:
        items = [x for x in items if view.holds(x & VALUE_MASK)]
    return _Cell(
        stamps=[x >> AT_SHIFT for x in items],
        sums=list(accumulate((x & VALUE_MASK for x in items), initial=0)),
    )


def _flow_cells(
    engine: Engine, flow: Flow, queries: Sequence[_Query], start: int, hi: int
) -> list[dict[tuple[Group, str], _Cell]]:
    """Per query, the flow's cells: its records stamped in [start, hi), read once for every
    query."""
    routes: list[list[Callable[[int], None]]] = [[] for _ in engine.org.keys]
    raw: list[dict[tuple[Group, str], list[int]]] = []
    for q in queries:
        plan = _plan(engine, flow, q.asked, q.wanted)
        lists: dict[tuple[Group, str], list[int]] = {}
        for key, (group, fed) in plan.items():
            for name in fed:
                routes[key].append(lists.setdefault((group, name), []).append)
        raw.append(lists)
    activity = engine.activity
    for minute in range((start - MAX_DURATION_MS) // MINUTE_MS, (hi - 1) // MINUTE_MS + 1):
        data = activity.minute(flow, minute)
        offset = data.base << AT_SHIFT
        for rec in data.records:
            for add in routes[(rec >> KEY_SHIFT) & KEY_MASK]:
                add(rec + offset)
    out = []
    for q, lists in zip(queries, raw, strict=True):
        cells: dict[tuple[Group, str], _Cell] = {}
        for (group, name), items in lists.items():
            if name in q.asked.metrics:
                cells[group, name] = _seal(list(items), start)
            for spec in q.asked.views:
                if spec.target == name:
                    cells[group, spec.name] = _seal(list(items), start, spec)
        out.append(cells)
    return out


def _plan(
    engine: Engine, flow: Flow, query: AggregateQuery, wanted: set[str]
) -> dict[int, tuple[Group, tuple[str, ...]]]:
    # The engine's own plan: which record keys the query's filter keeps, in which group.
    return engine._plan(flow, query, wanted)


def _group_labels(query: QueryConfig, groups: Iterable[Group], org: str) -> dict[Group, Labels]:
    """Each group's series labels, as the poller's normalizer makes them."""
    out: dict[Group, Labels] = {}
    bucket = {"interval": "2026-01-01T00:00:00Z/2026-01-01T00:00:01Z"}
    for group in groups:
        body = {"results": [{"group": dict(group), "data": [bucket]}]}
        response = msgspec.convert(body, AggregateResponse)
        out[group] = next(aggregate_buckets(query.name, org, response))[0]
    return out


def _per_poll(q: _Query, cell: _Cell) -> tuple[list[int], list[int]]:
    """(count, sum ms) of the cell at each poll of the query."""
    his = [p.hi for p in q.polls]
    los = [p.lo for p in q.polls]
    b = list(map(partial(bisect_left, cell.stamps), his))
    a = list(map(partial(bisect_left, cell.stamps), los))
    sums = cell.sums
    counts = [j - i for i, j in zip(a, b, strict=True)]
    totals = [sums[j] - sums[i] for i, j in zip(a, b, strict=True)]
    return counts, totals


def _group_values(
    q: _Query, cells: Mapping[tuple[Group, str], _Cell], group: Group
) -> dict[tuple[str, Labels], list[float]]:
    per: dict[str, tuple[list[int], list[int]]] = {}
    for o in q.outputs:
        if o.cell not in per:
            per[o.cell] = _per_poll(q, cells.get((group, o.cell), _Cell()))
    ats = [p.at for p in q.polls]
    out: dict[tuple[str, Labels], list[float]] = {}
    for o in q.outputs:
        counts, totals = per[o.cell]
        present = per[o.present_if][0]
        shown = [t / 1000 for t in totals] if o.sum else [float(c) for c in counts]
        vals = [v if n > 0 else MISSING for v, n in zip(shown, present, strict=True)]
        if o.zero_fill and 0 in present:
            last_seen = -math.inf
            for k, n in enumerate(present):
                if n > 0:
                    last_seen = ats[k]
                elif ats[k] - last_seen < ZERO_FILL_SECONDS:
                    vals[k] = 0.0
        if all(math.isnan(v) for v in vals):
            continue
        extra: Labels = (("le", o.le),) if o.le is not None else ()
        out[o.name, extra] = vals
    return out


def flow_series(
    engine: Engine,
    queries: Sequence[_Query],
    span: Span,
    org: str = "",
    flows: Sequence[Flow] = (),
) -> list[dict[SeriesKey, list[float]]]:
    """Per query: each flow series' value after each of its polls (MISSING: not exported)."""
    # From the earliest period a poll shows: its counters count from there.
    start = min(p.lo for q in queries for p in q.polls)
    hi = max(p.hi for q in queries for p in q.polls)
    result: list[dict[SeriesKey, list[float]]] = [{} for _ in queries]
    for flow in flows or engine.org.flows:
        per_query = _flow_cells(engine, flow, queries, start, hi)
        for q, cells, out in zip(queries, per_query, result, strict=True):
            groups = sorted({g for g, _ in cells})
            labels = _group_labels(q.config, groups, org)
            for group in groups:
                for (name, extra), vals in _group_values(q, cells, group).items():
                    out[name, (*labels[group], *extra)] = vals
    return result


# -- the observation query with details: executions in progress --------------------------------


def observation_series(
    engine: Engine, query: QueryConfig, span: Span, org: str = "", flows: Sequence[Flow] = ()
) -> tuple[list[float], dict[SeriesKey, list[float]]]:
    """An observation query's poll times, and per flow its series after each poll: executions
    in progress (held at 0 once none are), and with details the list's truncation and the age
    of the oldest one (both only while some are in progress)."""
    asked = validate_observation(request_body(query, span.start))
    ats: list[float] = []
    at = span.start
    while at <= span.end:
        ats.append(at)
        at += query.every
    base = series_labels(org, query.name)
    out: dict[SeriesKey, list[float]] = {}
    for flow in flows or engine.org.flows:
        if not asked.filter.test({"flowId": flow.id, "mediaType": flow.media_type}):
            continue
        labels: Labels = (*base, ("flow_id", flow.id), ("media_type", flow.media_type))
        counts, oldest = _in_progress(engine, flow, [round(t * 1000) for t in ats])
        active: list[float] = []
        last_seen = -math.inf
        for t, n in zip(ats, counts, strict=True):
            if n:
                last_seen = t
                active.append(float(n))
            else:
                active.append(0.0 if t - last_seen < ZERO_FILL_SECONDS else MISSING)
        if all(math.isnan(v) for v in active):
            continue
        out[count_family("oFlow").name, labels] = active
        if asked.details:
            out[OBSERVATIONS_TRUNCATED.name, labels] = [
                (1.0 if n > OBSERVATION_DETAIL_LIMIT else 0.0) if n else MISSING for n in counts
            ]
            out[OLDEST_EXECUTION_AGE.name, labels] = [
                round(t - first / 1000, 3) if first is not None else MISSING
                for t, first in zip(ats, oldest, strict=True)
            ]
    return ats, out


def _in_progress(
    engine: Engine, flow: Flow, moments: list[int]
) -> tuple[list[int], list[int | None]]:
    """Per moment (ms): how many executions of the flow are in progress, and the earliest start
    among them."""
    executions: list[tuple[int, int]] = []
    for minute in range((moments[0] - MAX_DURATION_MS) // MINUTE_MS, moments[-1] // MINUTE_MS + 1):
        data = engine.activity.minute(flow, minute)
        for span in data.spans:
            start = data.base + (span >> SPAN_SHIFT)
            executions.append((start, start + (span & VALUE_MASK)))
    executions.sort()
    starts = [s for s, _ in executions]
    ends = sorted(e for _, e in executions)
    counts = [bisect_right(starts, t) - bisect_right(ends, t) for t in moments]
    oldest: list[int | None] = []
    running: list[tuple[int, int]] = []  # heap of (start, end) of those started
    i = 0
    for t in moments:
        while i < len(executions) and executions[i][0] <= t:
            heappush(running, executions[i])
            i += 1
        while running and running[0][1] <= t:
            heappop(running)
        # The top is the earliest start among those not popped, and it is running: so it is
        # the earliest running one (ended ones deeper down are popped when they surface).
        oldest.append(running[0][0] if running else None)
    return counts, oldest


# -- scrapes ------------------------------------------------------------------------------------


def _scrape_index(span: Span, ats: Sequence[float]) -> list[int]:
    """Per scrape, the index of the last poll (at `ats`) before it (-1: none yet)."""
    out = []
    j = -1
    for step in range(span.steps):
        moment = span.scrape(step)
        while j + 1 < len(ats) and ats[j + 1] < moment:
            j += 1
        out.append(j)
    return out


def _at_scrapes(index: list[int], per_poll: list[float]) -> list[float]:
    """Per scrape, the value the last poll before it published."""
    return [per_poll[j] if j >= 0 else MISSING for j in index]


def _put_polled(
    out: Generated,
    query: QueryConfig,
    ats: list[float],
    per_flow: dict[SeriesKey, list[float]],
    org_labels: Labels,
) -> None:
    """A query's flow series and its self-metrics, from its polls at `ats` to the scrapes."""
    span = out.span
    index = _scrape_index(span, ats)
    for key, per_poll in per_flow.items():
        out.put(key, _at_scrapes(index, per_poll))
    labels: Labels = (*org_labels, ("query", query.name))
    selfs = {
        "query_up": [1.0] * len(ats),
        "query_last_success_timestamp_seconds": [span.promtool_time(at) for at in ats],
        "query_interval_seconds": [query.every] * len(ats),
        "polls_total": [float(i + 1) for i in range(len(ats))],
        "poll_failures_total": [0.0] * len(ats),
    }
    for name, per_poll in selfs.items():
        out.put((P + name, labels), _at_scrapes(index, per_poll))


def generate(
    engine: Engine,
    span: Span,
    config: Config | None = None,
    *,
    flows: Sequence[Flow] = (),
    org: str = "",
) -> Generated:
    """Every series the rules read over `span`, as scraped: the flow series of the counter
    queries and of the observation queries, the queries' self-metrics, `up` and
    `genesyscloud_flow_info` (of `flows`, default all)."""
    config = config or shipped_config()
    out = Generated(span)
    org_labels: Labels = (("org", org),) if org else ()
    chosen = tuple(flows) or engine.org.flows
    queries = [prepare(q, span, engine.lag_ms) for q in counter_queries(config)]
    per_query = flow_series(engine, queries, span, org, chosen)
    for q, per_flow in zip(queries, per_query, strict=True):
        ats = [p.at for p in q.polls]
        _put_polled(out, q.config, ats, per_flow, org_labels)
        # Read from the clock at each scrape, not at the polls.
        settling = [shown_period(q.config, span.scrape(i))[2] for i in range(span.steps)]
        labels: Labels = (*org_labels, ("query", q.config.name))
        out.put((P + "query_settling", labels), [1.0 if s else 0.0 for s in settling])
    for query in config.queries:
        if query.type == "observation":
            ats, per_flow = observation_series(engine, query, span, org, chosen)
            _put_polled(out, query, ats, per_flow, org_labels)
    out.put(("up", ()), [1.0] * span.steps)
    divisions = {d.id: d.name for d in engine.org.divisions}
    for flow in chosen:
        info: Labels = (
            *org_labels,
            ("flow_id", flow.id),
            ("flow_name", flow.name),
            ("flow_type", flow.type),
            ("division_id", flow.division_id),
            ("division_name", divisions[flow.division_id]),
            ("deleted", "false"),
        )
        out.put(("genesyscloud_flow_info", info), [1.0] * span.steps)
    return out


# -- promtool's notation ------------------------------------------------------------------------


def _number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def expand_notation(values: Sequence[float]) -> str:
    """promtool's input notation for one series: runs of a constant step as `a+bxn` (n+1
    values), absent stretches as `stale` (after a sample) then `_xn` (n missing)."""
    parts: list[str] = []
    i = 0
    n = len(values)
    while i < n:
        v = values[i]
        if math.isnan(v):
            j = i
            while j < n and math.isnan(values[j]):
                j += 1
            run = j - i
            if i > 0:
                parts.append("stale")
                run -= 1
            if run == 1:
                parts.append("_")
            elif run > 1:
                parts.append(f"_x{run}")
            i = j
            continue
        j = i + 1
        if j < n and not math.isnan(values[j]):
            step = values[j] - v
            while j + 1 < n and not math.isnan(values[j + 1]) and values[j + 1] - values[j] == step:
                j += 1
            # values[i..j] step by `step`; worth the notation from three values on.
            if j - i >= 2:
                if step == 0:
                    parts.append(f"{_number(v)}x{j - i}")
                else:
                    sign = "+" if step > 0 else "-"
                    parts.append(f"{_number(v)}{sign}{_number(abs(step))}x{j - i}")
                i = j + 1
                continue
        parts.append(_number(v))
        i += 1
    return " ".join(parts)


def series_text(name: str, labels: Labels) -> str:
    pairs = (*labels, ("instance", INSTANCE), ("job", JOB))
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(pairs))
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def input_series(generated: Generated, names: set[str] | None = None) -> list[dict[str, str]]:
    """promtool's input_series, of the series named in `names` (default all)."""
    return [
        {"series": series_text(name, labels), "values": expand_notation(values)}
        for (name, labels), values in sorted(generated.series.items())
        if names is None or name in names
    ]


def rules_read(files: Sequence[Path]) -> set[str]:
    """Every word of the rules' expressions and templates: a superset of the series names they
    read, so that series no rule reads (and that would only slow promtool) can be left out."""
    words: set[str] = set()
    for path in files:
        words.update(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", path.read_text()))
    return words


def shipped_rule_files() -> list[Path]:
    """Every rules file in deploy/prometheus/rules (their unit tests left out)."""
    return sorted(p for p in RULES_DIR.glob("*.yml") if not p.name.endswith(".test.yml"))


# A selector: a name (not a function's), its matchers, its range (or subquery), its offset.
_SELECTOR = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?!\s*\()\s*(?:\{[^}]*\})?\s*"
    r"(?:\[(\d+[smhdw])(?::\d*[smhdw]?)?\])?\s*(?:offset\s+(\d+[smhdw]))?"
)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(text: str) -> float:
    return float(text[:-1]) * _UNIT[text[-1]] if text else 0.0


def rules_lookback(files: Sequence[Path] = ()) -> float:
    """The longest stretch of raw history an alert's evaluation reads, in seconds: over its
    selectors, range plus offset, plus (for a recorded series) that series' own lookback. The
    generated tests add it as warm-up before what they check."""
    exprs: dict[str, str] = {}  # recorded series -> its expression
    alerts: list[str] = []
    for path in files or shipped_rule_files():
        for group in yaml.safe_load(path.read_text()).get("groups", []):
            for rule in group.get("rules", []):
                if "record" in rule:
                    exprs[rule["record"]] = str(rule["expr"])
                else:
                    alerts.append(str(rule["expr"]))
    memo: dict[str, float] = {}

    def reach(expr: str, depth: int) -> float:
        assert depth < 20, "recording rules refer to each other in a loop"
        longest = 0.0
        for name, window, offset in _SELECTOR.findall(expr):
            own = _seconds(window) + _seconds(offset)
            if name in exprs:
                if name not in memo:
                    memo[name] = reach(exprs[name], depth + 1)
                own += memo[name]
            longest = max(longest, own)
        return longest

    return max((reach(e, 0) for e in alerts), default=0.0)


def duration(seconds: float) -> str:
    """A promtool duration (whole seconds)."""
    return f"{round(seconds)}s"


def write_test_file(
    path: Path,
    generated: Generated,
    *,
    alert_rule_test: Sequence[Mapping[str, Any]] = (),
    promql_expr_test: Sequence[Mapping[str, Any]] = (),
    rule_files: Sequence[Path] = (),
) -> Path:
    """A `promtool test rules` file: the generated input series that the rules (or the checks)
    read, and the given checks, run against `rule_files` (default: every shipped rules file)."""
    files = list(rule_files) or shipped_rule_files()
    names = rules_read(files)
    for check in promql_expr_test:
        names.update(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", str(check["expr"])))
    test: dict[str, Any] = {
        "interval": duration(SCRAPE_SECONDS),
        "input_series": input_series(generated, names),
    }
    if alert_rule_test:
        test["alert_rule_test"] = list(alert_rule_test)
    if promql_expr_test:
        test["promql_expr_test"] = list(promql_expr_test)
    doc = {
        "rule_files": [str(f.resolve()) for f in files],
        "evaluation_interval": duration(SCRAPE_SECONDS),
        "tests": [test],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1 << 30))
    return path


def first_firing(matchers: str, window: float) -> str:
    """PromQL: per alert and flow, the promtool time of the first evaluation in the last
    `window` seconds at which an alert matching `matchers` was firing (nothing if none was)."""
    selector = f'ALERTS{{alertstate="firing"{matchers}}}'
    return (
        f"min by (alertname, flow_id) "
        f"(min_over_time(timestamp({selector})[{duration(window)}:{duration(SCRAPE_SECONDS)}]))"
    )


_GOT = re.compile(r'\{alertname="([^"]+)"(?:, flow_id="([^"]*)")?\} ([0-9.eE+-]+)')


def fired(output: str) -> list[tuple[str, str, float]]:
    """(alert, flow id, promtool time) of every `first_firing` sample in promtool's output."""
    return [(a, f, float(v)) for a, f, v in _GOT.findall(output)]


def describe(output: str, span: Span, names: Mapping[str, str]) -> str:
    """promtool's output, then each alert it saw firing: the flow's name and when it first
    fired (UTC), for a failure message a person can act on."""
    lines = [output, "Fired (first evaluation):"]
    for alert, flow_id, at in sorted(set(fired(output)), key=lambda x: x[2]):
        moment = datetime.fromtimestamp(span.epoch + at, UTC).strftime("%a %H:%M:%S")
        lines.append(f"  {moment} UTC  {alert}  {names.get(flow_id, flow_id)}")
    return "\n".join(lines)


def utc(text: str) -> float:
    """Epoch seconds of an ISO UTC time such as 2026-05-11T00:00:00."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
