"""Benchmark 3: the daemon's memory per series, and whether it grows over repeated polls.

Held memory: a real daemon process (the `daemon` child) polls a fake Genesys API that answers
with N series, through its real client, normalizer and store. RSS is read from /proc before the
first poll and after each of POLLS polls; bytes per series = (RSS after the last poll - idle
RSS) / N, the steady state, when the previous poll's data has been replaced once already.
Each size runs twice: with glibc's default malloc settings (the figure the target is judged
on), and with MALLOC_TRIM_THRESHOLD_ set, which stops glibc from keeping freed heap (the
response, the rendered text) around after large allocations raised its thresholds.

The process tree's PSS (/proc/PID/smaps_rollup, summed over the daemon and every process below
it: the decoding worker once it runs, and its fork for a digest while one runs) is read
beside it: PSS counts a page shared between processes once in all, so the tree's sum is what
the deployment pays. Its bytes per series count the worker's start too when the first large
poll starts it. Idle: a daemon holding IDLE_SERIES series (bodies small enough to be digested in
a thread) after its polls, with the worker on demand and, the baseline, started with the daemon.

Growth: a child publishes and re-renders the same snapshot over and over, as polls of unchanged
data would, and RSS is read at checkpoints. glibc's heap settles in steps over the first few
hundred cycles (from -2.7 to +3.2 MiB between cycles 100 and 250 in runs of the same code,
flat after), so growth is judged over the second half of the run: a leak grows in every half,
and 1 MiB over 500 publishes catches one of 2 KiB per publish.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.bench.common import (
    BenchError,
    Section,
    child,
    dataset_file,
    descendants_rss,
    rss_bytes,
    run_job,
    table,
    tree_pss,
)
from tests.bench.data import MARKER_PLACEHOLDER

FULL_SIZES = (10_000, 100_000)
QUICK_SIZES = (10_000,)
POLLS = 3
PER_SERIES_TARGET = 1024  # bytes, at 100k series
# series, cycles, checkpoints; growth is judged from the middle checkpoint to the last
FULL_CYCLES = (10_000, 1_000, (100, 250, 500, 750, 1_000))
QUICK_CYCLES = (1_000, 200, (50, 100, 200))
GROWTH_TOLERANCE = 1 << 20  # RSS moves by a few pages on its own; more than 1 MiB is growth
MIB = 1 << 20
IDLE_SERIES = 1_000
IDLE_TREE_TARGET = 50 * MIB
TUNED = {"MALLOC_TRIM_THRESHOLD_": "131072"}


async def daemon_memory(
    series: int, env: dict[str, str] | None, decode_worker: str = "on_demand"
) -> dict[str, Any]:
    """A daemon's RSS and its process tree's PSS idle, and after each of POLLS polls of
    `series` series."""
    path = dataset_file(series, marker=MARKER_PLACEHOLDER)
    async with (
        child("genesys", "--data", str(path)) as api,
        child(
            "daemon", "--api", api.url, "--no-ticker", "--decode-worker", decode_worker, env=env
        ) as daemon,
        aiohttp.ClientSession() as http,
    ):
        idle = rss_bytes(daemon.pid)
        idle_tree = sum(tree_pss(daemon.pid))
        after = []
        tree_after = []
        for _ in range(POLLS):
            async with http.post(daemon.control_url + "/poll") as resp:
                if not (await resp.json())["ok"]:
                    raise BenchError("the daemon's poll failed")
            after.append(rss_bytes(daemon.pid))
            tree_after.append(tree_pss(daemon.pid))
        workers = descendants_rss(daemon.pid)
        async with http.get(daemon.url + "/metrics") as resp:
            body = await resp.read()
    found = body.count(b"\ngenesyscloud_flow_")
    if found != series:
        raise BenchError(f"the daemon serves {found} series, expected {series}")
    return {
        "idle_rss": idle,
        "rss_after_polls": after,
        "bytes_per_series": (after[-1] - idle) / series,
        # The decoding worker holds no series: each digest runs in a fork of it that exits
        # once it has replied, so this is its imports, the same whatever the store holds.
        "worker_rss": workers,
        # The whole tree (daemon + every process below it), before the first poll and after
        # each: what the deployment pays, the worker included once it runs.
        "idle_tree_pss": idle_tree,
        "tree_pss_after_polls": [sum(pair) for pair in tree_after],
        "below_pss_after_polls": [below for _, below in tree_after],
        "tree_bytes_per_series": (sum(tree_after[-1]) - idle_tree) / series,
    }


async def idle_tree(section: Section) -> dict[str, Any]:
    """The tree's PSS of a daemon holding ~IDLE_SERIES series, idle after its polls: with the
    worker started on demand (the default: these bodies never start it) and, the baseline,
    started with the daemon (`decode_worker: at_start`)."""
    out: dict[str, Any] = {}
    rows = []
    for when in ("on_demand", "at_start"):
        print(f"  memory: tree with {IDLE_SERIES:,} series, decode_worker {when} ...", flush=True)
        r = await daemon_memory(IDLE_SERIES, None, when)
        out[when] = r
        rows.append(
            [
                when,
                r["idle_tree_pss"] / MIB,
                r["tree_pss_after_polls"][-1] / MIB,
                (r["tree_pss_after_polls"][-1] - r["below_pss_after_polls"][-1]) / MIB,
                r["below_pss_after_polls"][-1] / MIB,
            ]
        )
    print(f"\nProcess tree PSS (MiB) of a daemon holding {IDLE_SERIES:,} series")
    print(table(["decode_worker", "before polls", "idle after polls", "daemon", "below it"], rows))
    lean = out["on_demand"]["tree_pss_after_polls"][-1]
    base = out["at_start"]["tree_pss_after_polls"][-1]
    section.target(
        f"process tree PSS idle with {IDLE_SERIES:,} series <= {IDLE_TREE_TARGET // MIB} MiB",
        lean <= IDLE_TREE_TARGET,
        f"{lean / MIB:.1f} MiB; worker started with the daemon (the baseline): "
        f"{base / MIB:.1f} MiB",
    )
    return out


async def run(section: Section) -> None:
    quick = section.quick
    sizes = QUICK_SIZES if quick else FULL_SIZES
    idle = await idle_tree(section)
    rows = []
    tree_rows = []
    held: dict[str, Any] = {}
    for series in sizes:
        for label, env in (("default", None), ("MALLOC_TRIM_THRESHOLD_=131072", TUNED)):
            print(f"  memory: daemon with {series:,} series, glibc {label} ...", flush=True)
            r = await daemon_memory(series, env)
            held.setdefault(str(series), {})["default" if env is None else "trim"] = r
            rows.append(
                [
                    series,
                    label,
                    r["idle_rss"] / MIB,
                    *(rss / MIB for rss in r["rss_after_polls"]),
                    r["bytes_per_series"],
                    r["worker_rss"] / MIB,
                ]
            )
            tree_rows.append(
                [
                    series,
                    label,
                    r["idle_tree_pss"] / MIB,
                    *(pss / MIB for pss in r["tree_pss_after_polls"]),
                    r["tree_bytes_per_series"],
                    r["below_pss_after_polls"][-1] / MIB,
                ]
            )
    print(f"\nDaemon RSS (MiB) idle and after each poll; bytes per series after poll {POLLS}")
    polls = [f"after poll {i + 1}" for i in range(POLLS)]
    print(table(["series", "malloc", "idle", *polls, "bytes/series", "worker RSS"], rows))
    print(
        f"\nProcess tree PSS (MiB: daemon and every process below it) idle and after each poll;"
        f" bytes per series after poll {POLLS}, the worker's start included"
    )
    print(table(["series", "malloc", "idle", *polls, "bytes/series", "below daemon"], tree_rows))

    series, cycles, points = QUICK_CYCLES if quick else FULL_CYCLES
    if quick:
        section.note(f"--quick: growth checked with {series:,} series over {cycles} cycles")
    print(f"  memory: {cycles} publishes of the same {series:,} series ...", flush=True)
    r = await run_job(
        "memory",
        "--data",
        str(dataset_file(series)),
        "--cycles",
        str(cycles),
        "--checkpoints",
        ",".join(map(str, points)),
    )
    at = {int(k): v for k, v in r["cycle_rss"].items()}
    start = points[len(points) // 2]
    growth = at[points[-1]] - at[start]
    print(f"\nRSS over {cycles} publishes of {series:,} series (MiB)")
    print(table(["after cycle", "RSS"], [[c, at[c] / MIB] for c in sorted(at)]))
    section.figures = {
        "polls": POLLS,
        "idle_tree": idle,
        "held": held,
        "cycles": {
            "series": series,
            "cycles": cycles,
            "rss": r["cycle_rss"],
            "growth": growth,
            "judged_from": start,
            "growth_from_first": at[points[-1]] - at[points[0]],
        },
    }
    top = held.get("100000")
    if top is None:
        section.note("the bytes-per-series target is judged at 100k series, not measured here")
    else:
        per = top["default"]["tree_bytes_per_series"]
        section.target(
            f"under {PER_SERIES_TARGET} bytes of process tree PSS per series at 100k series "
            "(glibc defaults)",
            per < PER_SERIES_TARGET,
            f"{per:.0f} bytes/series (daemon RSS alone: {top['default']['bytes_per_series']:.0f}"
            f"); {top['trim']['tree_bytes_per_series']:.0f} with MALLOC_TRIM_THRESHOLD_=131072",
        )
    section.target(
        f"no RSS growth from cycle {start} to {points[-1]} (tolerance 1 MiB)",
        growth <= GROWTH_TOLERANCE,
        f"{growth / 1024:+.0f} KiB; from cycle {points[0]}: "
        f"{(at[points[-1]] - at[points[0]]) / 1024:+.0f} KiB",
    )
