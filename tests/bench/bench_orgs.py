"""Benchmark 5: many orgs in one process. 100 orgs x 4 queries every 60 s, about 1,000 series an
org, against the same 100k series as one org (the baseline, measured in the same run).

Three processes: the simulator (`child.py simulator`: 100 orgs of ORG_FLOWS flows, one OAuth
client and one rate limit each; its CPU is not counted), the daemon (`child.py orgs`, the real
Daemon with a Config built from the model, one OrgConfig per org, names off) and this one, which
reads /proc. CPU is utime + stime (+ that of reaped children) of the daemon's whole process
tree: the daemon and the decoding worker below it, whose reaped children (a fork per digest)
count in its own.

CPU per cycle: POST /cycle polls every query of every org once at the same time (400 polls),
after a warm-up cycle (the OAuth logins, the store's first fill); the median of CYCLES cycles is
the CPU one minute costs at `every: 60s`. A second daemon then runs the real schedule (APScheduler,
each job's first run within 5 s of the start) and the CPU of whole intervals is read from the
middle of one quiet gap to the middle of a later one: the cycles' figure, confirmed.

Twice the orgs (200, the simulator's maximum) are cycled too: the sizing rule fits CPU per cycle
as a*n + b*n^2 through the two sizes (each poll's commit re-assembles the whole exposition, so it
is not linear) and scales it by what the schedule costs over the cycles.

RSS (/proc VmRSS): a daemon's idle RSS once its orgs are loaded (no poll yet), after the last
cycle, and its worker's separately. Per org = (RSS after the cycles - the 1-org daemon's idle
RSS) / orgs: what one more org of ~1k series costs, its share of the held series included.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.bench.common import (
    BenchError,
    Child,
    Section,
    child,
    descendants,
    load_average,
    median,
    rss_bytes,
    table,
)

ORG_FLOWS = 18  # flows per org: about 1,000 series with the four queries (child.ORG_QUERIES)
FULL = {"orgs": 100, "cycles": 3, "every": 60, "intervals": 2}
QUICK = {"orgs": 10, "cycles": 2, "every": 20, "intervals": 1}
CPU_PER_MINUTE_TARGET = 30.0  # seconds: one core with half its time to spare
PAGE_TARGET_MS = 50.0  # "in milliseconds": p99 of the status page under this
TICK = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20
GIB = 1 << 30


def cpu_seconds(pid: int) -> float:
    """CPU of `pid` and every process below it: utime + stime + cutime + cstime (a reaped
    child's CPU moves to its parent's cutime, so the sum never drops)."""
    total = 0
    for proc in (pid, *descendants(pid)):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
            # After the command: state is field 3, utime..cstime are fields 14-17.
            total += sum(int(f) for f in fields[11:15])
    return total / TICK


def tree_rss(pid: int) -> dict[str, int]:
    """RSS of the daemon and its decoding worker (with the worker's fork for a digest, when one
    runs); any other process below the daemon is counted as "forkserver" or "tracker", which
    the worker no longer needs (kept so that older results read the same)."""
    out = {"daemon": rss_bytes(pid), "worker": 0, "forkserver": 0, "tracker": 0}
    for proc in descendants(pid):
        with contextlib.suppress(OSError, BenchError):
            cmdline = Path(f"/proc/{proc}/cmdline").read_bytes()
            if b"poller.digest" in cmdline:
                role = "worker"
            elif b"resource_tracker" in cmdline:
                role = "tracker"
            else:
                role = "forkserver"
            out[role] += rss_bytes(proc)
    return out


@dataclass
class Case:
    label: str
    orgs: int
    flows: int  # per org


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        return await resp.json()


async def _cycle(http: aiohttp.ClientSession, daemon: Child) -> dict[str, Any]:
    async with http.post(daemon.control_url + "/cycle") as resp:
        result: dict[str, Any] = await resp.json()
    return result


@contextlib.asynccontextmanager
async def _daemon(api: str, orgs: int, every: int, *, schedule: bool) -> AsyncIterator[Child]:
    args = ["orgs", "--api", api, "--orgs", str(orgs), "--every", str(every)]
    async with child(*args, *(["--schedule"] if schedule else [])) as daemon:
        yield daemon


async def measure_cycles(api: str, case: Case, cycles: int, every: int) -> dict[str, Any]:
    """Idle RSS, a warm-up cycle, then `cycles` measured cycles of every query of every org."""
    async with (
        _daemon(api, case.orgs, every, schedule=False) as daemon,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http,
    ):
        await asyncio.sleep(1.0)  # the worker settles
        idle = tree_rss(daemon.pid)
        warm = await _cycle(http, daemon)
        runs = []
        for _ in range(cycles):
            before = cpu_seconds(daemon.pid)
            result = await _cycle(http, daemon)
            result["cpu"] = cpu_seconds(daemon.pid) - before
            result["load"] = load_average()
            runs.append(result)
        held = tree_rss(daemon.pid)
        state = await _get(http, daemon.control_url + "/state")
        pages = await _time_pages(http, f"http://127.0.0.1:{daemon.port}")
    failed = len(warm["failed"]) + sum(len(r["failed"]) for r in runs)
    return {
        "orgs": case.orgs,
        "flows_per_org": case.flows,
        "polls_per_cycle": runs[0]["polls"],
        "warmup_seconds": warm["seconds"],
        "cycle_cpu": [r["cpu"] for r in runs],
        "cycle_seconds": [r["seconds"] for r in runs],
        "cycle_load": [r["load"] for r in runs],
        "cpu_per_cycle": median([r["cpu"] for r in runs]),
        "seconds_per_cycle": median([r["seconds"] for r in runs]),
        "failed_polls": failed,
        "failed_jobs": sorted({j for r in [warm, *runs] for j in r["failed"]})[:10],
        "queries_down": state["down"][:10],
        "queries": state["queries"],
        "series": state["total"],
        "series_per_query": state["per_query"],
        "series_per_org_min": min(state["per_org"].values(), default=0),
        "series_per_org_max": max(state["per_org"].values(), default=0),
        "orgs_with_series": len(state["per_org"]),
        "idle_rss": idle,
        "held_rss": held,
        "pages": pages,
    }


PAGE_REQUESTS = 50
PAGES = ("/healthz", "/", "/status.json")  # /healthz: the baseline, an answer with no work


async def _time_pages(http: aiohttp.ClientSession, base: str) -> dict[str, dict[str, float]]:
    """Median and p99 milliseconds of PAGE_REQUESTS sequential GETs of each page (the status
    page and its JSON, against /healthz), and the body's size: what an operator's browser or a
    script costs a daemon holding every org's series."""
    out = {}
    for path in PAGES:
        times, size = [], 0
        for _ in range(PAGE_REQUESTS):
            begun = time.perf_counter()
            async with http.get(base + path) as resp:
                body = await resp.read()
                assert resp.status == 200, (path, resp.status)
            times.append((time.perf_counter() - begun) * 1000)
            size = len(body)
        times.sort()
        out[path] = {
            "median_ms": median(times),
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
            "bytes": size,
        }
    return out


async def measure_schedule(api: str, orgs: int, every: int, intervals: int) -> dict[str, Any]:
    """CPU of `intervals` whole scheduled intervals, read in the quiet middle of a gap."""
    async with (
        _daemon(api, orgs, every, schedule=True) as daemon,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http,
    ):
        started = time.monotonic()
        # First runs come 0 to 5 s after the start, then every `every`: from 1.5 intervals in,
        # the second round is done and the third has not begun (while a round takes under
        # half an interval less 5 s, which the cycles' wall time shows).
        await asyncio.sleep(started + 1.5 * every - time.monotonic())
        first = await _get(http, daemon.control_url + "/state")
        before = cpu_seconds(daemon.pid)
        begun = time.monotonic()
        await asyncio.sleep(intervals * every)
        cpu = cpu_seconds(daemon.pid) - before
        ran = time.monotonic() - begun
        last = await _get(http, daemon.control_url + "/state")
    polls = last["polls"] - first["polls"]
    return {
        "every": every,
        "intervals": intervals,
        "seconds": ran,
        "cpu": cpu,
        "cpu_per_interval": cpu / intervals,
        "polls": polls,
        "expected_polls": intervals * last["queries"],
        "poll_failures": last["poll_failures"],
        "polls_skipped": last["polls_skipped"],
        "queries_down": last["down"][:10],
        "series": last["total"],
        "load": load_average(),
    }


async def run(section: Section) -> None:
    p = QUICK if section.quick else FULL
    orgs, every = p["orgs"], p["every"]
    if section.quick:
        section.note(
            f"--quick: {orgs} orgs, {p['cycles']} cycles, the schedule at every {every}s for "
            f"{p['intervals']} interval (full run: 100 orgs, 3 cycles, 2 minutes at 60s); "
            "cycles this small are a few of /proc's 10 ms ticks: read the sizing rule from a "
            "full run"
        )
    many = Case(f"{orgs} orgs x {ORG_FLOWS} flows", orgs, ORG_FLOWS)
    one = Case(f"1 org x {orgs * ORG_FLOWS:,} flows", 1, orgs * ORG_FLOWS)
    # Twice the orgs (the simulator's maximum in a full run): whether the CPU grows linearly.
    double = Case(f"{2 * orgs} orgs x {ORG_FLOWS} flows", 2 * orgs, ORG_FLOWS)
    results: dict[str, dict[str, Any]] = {}
    for name, case in (("one", one), ("many", many), ("double", double)):
        print(f"  orgs: simulator and daemon, {case.label} ...", flush=True)
        simulator = ("simulator", "--orgs", str(case.orgs), "--flows", str(case.flows))
        async with child(*simulator) as sim:
            results[name] = await measure_cycles(sim.url, case, p["cycles"], every)
            if name == "many":
                print(f"  orgs: the real schedule, {p['intervals']} x {every} s ...", flush=True)
                scheduled = await measure_schedule(sim.url, orgs, every, p["intervals"])
    m, b, d = results["many"], results["one"], results["double"]
    _print(m, b, d, scheduled, every)
    per_minute = m["cpu_per_cycle"]  # one cycle a minute at every: 60s
    scheduled_per_minute = scheduled["cpu_per_interval"]  # one cycle per interval
    idle_one = b["idle_rss"]["daemon"]
    per_org_loaded = (m["idle_rss"]["daemon"] - idle_one) / max(1, orgs - 1)
    per_org_held = (m["held_rss"]["daemon"] - idle_one) / orgs
    worker = m["held_rss"]["worker"] + m["held_rss"]["forkserver"] + m["held_rss"]["tracker"]
    fixed = idle_one + worker
    # CPU a minute for n orgs, fitted as a*n + b*n^2 through the two sizes' cycles and scaled
    # by what the real schedule costs over the cycles at `orgs`.
    n1, c1, n2, c2 = orgs, m["cpu_per_cycle"], 2 * orgs, d["cpu_per_cycle"]
    quad = max(0.0, (c2 / n2 - c1 / n1) / (n2 - n1))
    lin = c1 / n1 - quad * n1
    ratio = max(1.0, scheduled_per_minute / per_minute) if per_minute else 1.0
    budget = CPU_PER_MINUTE_TARGET / ratio
    if quad > 0:
        orgs_per_core = (-lin + math.sqrt(lin * lin + 4 * quad * budget)) / (2 * quad)
    else:
        orgs_per_core = budget / lin if lin > 0 else math.inf
    linear = CPU_PER_MINUTE_TARGET / (scheduled_per_minute / orgs) if scheduled_per_minute else 0
    orgs_per_gib = (GIB - fixed) / per_org_held if per_org_held > 0 else math.inf
    print(
        f"\n  per org: {scheduled_per_minute / orgs * 1000:.0f} ms of CPU a minute "
        f"(scheduled; {c1 / n1 * 1000:.0f} ms per cycle at {n1} orgs, {c2 / n2 * 1000:.0f} ms "
        f"at {n2}), {per_org_held / MIB:.2f} MiB of daemon RSS with its "
        f"~{m['series'] / orgs:,.0f} series held ({per_org_loaded / 1024:.0f} KiB loaded, "
        f"before any poll); fixed: {idle_one / MIB:.0f} MiB idle daemon + {worker / MIB:.0f} MiB "
        "worker, forkserver and resource tracker"
    )
    print(
        f"  CPU per cycle ~ {lin * 1000:.1f} ms x orgs + {quad * 1e6:.1f} us x orgs^2 "
        f"(fitted through {n1} and {n2} orgs), x {ratio:.2f} on the real schedule"
    )
    print(
        f"  sizing rule of thumb: {orgs_per_core:,.0f} orgs of ~1k series per core at 50% "
        f"(4 queries every 60 s; {linear:,.0f} if the CPU grew linearly from {orgs} orgs); "
        f"{orgs_per_gib:,.0f} orgs per GiB of RSS (after the fixed {fixed / MIB:.0f} MiB)"
    )
    section.figures = {
        "many": m,
        "one": b,
        "scheduled": scheduled,
        "cpu_per_minute": per_minute,
        "double": d,
        "scheduled_cpu_per_minute": scheduled_per_minute,
        "cpu_fit": {"per_org": lin, "per_org_squared": quad, "schedule_factor": ratio},
        "orgs_per_core_linear": linear,
        "per_org_rss_loaded": per_org_loaded,
        "per_org_rss_held": per_org_held,
        "fixed_rss": fixed,
        "orgs_per_core_at_50pct": orgs_per_core,
        "orgs_per_gib": orgs_per_gib,
    }
    if m["failed_polls"] or m["queries_down"] or scheduled["poll_failures"]:
        section.note(
            f"failed polls: {m['failed_polls']} in the cycles ({m['failed_jobs']}), "
            f"{scheduled['poll_failures']:.0f} scheduled; down: {m['queries_down']}"
        )
    all_up = (
        not m["queries_down"]
        and not scheduled["queries_down"]
        and m["orgs_with_series"] == orgs
        and m["failed_polls"] == 0
        and scheduled["poll_failures"] == 0
    )
    section.target(
        f"every poll of {orgs} orgs x 4 queries succeeded and every query is up",
        all_up,
        f"{m['failed_polls']} failed in the cycles, {scheduled['poll_failures']:.0f} scheduled; "
        f"{m['orgs_with_series']} orgs export series",
    )
    page = m["pages"]["/"]
    section.target(
        f"the status page answers in milliseconds with {orgs} orgs and {m['series']:,} series",
        page["p99_ms"] < PAGE_TARGET_MS,
        f"/ median {page['median_ms']:.1f} ms, p99 {page['p99_ms']:.1f} ms "
        f"(/healthz median {m['pages']['/healthz']['median_ms']:.1f} ms)",
    )
    section.target(
        f"one core keeps {orgs} orgs fresh at 60 s intervals with half its time to spare "
        f"(CPU <= {CPU_PER_MINUTE_TARGET:g} s a minute)",
        max(per_minute, scheduled_per_minute) <= CPU_PER_MINUTE_TARGET,
        f"{per_minute:.2f} s per cycle of {m['polls_per_cycle']} polls, "
        f"{scheduled_per_minute:.2f} s per scheduled interval",
    )


def _print(
    m: dict[str, Any],
    b: dict[str, Any],
    d: dict[str, Any],
    scheduled: dict[str, Any],
    every: int,
) -> None:
    print(
        f"\nOne poll round of every query (POST /cycle, median of {len(m['cycle_cpu'])}): CPU "
        "seconds of the daemon's process tree, wall time, RSS (MiB) after the rounds"
    )
    rows = []
    cases = (
        (m, f"{m['orgs']} orgs x 4 queries"),
        (b, "1 org x 4 queries (baseline)"),
        (d, f"{d['orgs']} orgs x 4 queries"),
    )
    for r, what in cases:
        rows.append(
            [
                what,
                r["flows_per_org"],
                r["series"],
                r["polls_per_cycle"],
                r["cpu_per_cycle"],
                r["seconds_per_cycle"],
                r["failed_polls"],
                r["idle_rss"]["daemon"] / MIB,
                r["held_rss"]["daemon"] / MIB,
                r["held_rss"]["worker"] / MIB,
                (r["held_rss"]["forkserver"] + r["held_rss"]["tracker"]) / MIB,
            ]
        )
    print(
        table(
            [
                "case",
                "flows/org",
                "series",
                "polls",
                "CPU s",
                "wall s",
                "failed",
                "daemon idle",
                "daemon polled",
                "worker",
                "forkserver+tracker",
            ],
            rows,
        )
    )
    print(
        f"  series per org: {m['series_per_org_min']:,} to {m['series_per_org_max']:,}; per "
        f"query: {m['series_per_query']}; per-cycle CPU {m['cycle_cpu']} (baseline "
        f"{b['cycle_cpu']}), load {m['cycle_load']}"
    )
    print(
        f"\nThe status page with {m['orgs']} orgs ({m['queries']} queries, {m['series']:,} "
        f"series held), {PAGE_REQUESTS} sequential GETs each, ms:"
    )
    print(
        table(
            ["path", "median", "p99", "bytes"],
            [[path, v["median_ms"], v["p99_ms"], v["bytes"]] for path, v in m["pages"].items()],
        )
    )
    print(
        f"  real schedule (every {every}s): {scheduled['cpu']:.2f} s CPU over "
        f"{scheduled['intervals']} interval(s) ({scheduled['seconds']:.0f} s): "
        f"{scheduled['cpu_per_interval']:.2f} s per interval; {scheduled['polls']:.0f} polls of "
        f"{scheduled['expected_polls']} expected, {scheduled['poll_failures']:.0f} failed, "
        f"{scheduled['polls_skipped']:.0f} skipped, {len(scheduled['queries_down'])} down, "
        f"{scheduled['series']:,} series"
    )
