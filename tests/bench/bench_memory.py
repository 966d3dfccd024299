"""Benchmark 3: the daemon's memory per series, and whether it grows over repeated polls.

Each size runs in a fresh child: a real Daemon (its config, self-metrics, empty store) is
measured idle, then after one poll's data is parsed, normalized, published and rendered (body
and gzip cached) and the response dropped. Bytes per series = (held RSS - idle RSS) / series:
everything the daemon keeps for the series, and whatever the parse left behind in the heap.
The growth check publishes and re-renders the same snapshot over and over, as polls of
unchanged data would, and compares RSS after cycle 100 with RSS after the last cycle.
"""

from __future__ import annotations

from tests.bench.common import BenchError, Section, dataset_file, run_job, table

FULL_SIZES = (10_000, 100_000)
QUICK_SIZES = (10_000,)
PER_SERIES_TARGET = 1024  # bytes, at 100k series
FULL_CYCLES = (10_000, 1_000, (100, 250, 500, 1_000))  # series, cycles, checkpoints
QUICK_CYCLES = (1_000, 200, (100, 200))
GROWTH_TOLERANCE = 1 << 20  # RSS moves by a few pages on its own; more than 1 MiB is growth
MIB = 1 << 20


async def run(section: Section) -> None:
    quick = section.quick
    sizes = QUICK_SIZES if quick else FULL_SIZES
    rows = []
    held: dict[str, dict[str, float]] = {}
    for series in sizes:
        print(f"  memory: {series:,} series ...", flush=True)
        r = await run_job("memory", "--data", str(dataset_file(series)))
        if r["series"] != series:
            raise BenchError(f"published {r['series']} series, expected {series}")
        per = (r["held_rss"] - r["idle_rss"]) / series
        held[str(series)] = {**r, "bytes_per_series": per}
        rows.append([series, r["idle_rss"] / MIB, r["held_rss"] / MIB, per])
    print("\nDaemon RSS holding the series (MiB; bytes per series)")
    print(table(["series", "idle RSS", "holding RSS", "bytes/series"], rows))

    series, cycles, points = QUICK_CYCLES if quick else FULL_CYCLES
    if quick:
        section.note(f"--quick: growth checked with {series:,} series over {cycles} cycles")
    print(f"  memory: {cycles} publishes of the same {series:,} series ...", flush=True)
    r = await run_job(
        "memory", "--data", str(dataset_file(series)), "--cycles", str(cycles),
        "--checkpoints", ",".join(map(str, points)),
    )  # fmt: skip
    at = {int(k): v for k, v in r["cycle_rss"].items()}
    growth = at[points[-1]] - at[points[0]]
    print(f"\nRSS over {cycles} publishes of {series:,} series (MiB)")
    print(table(["after cycle", "RSS"], [[c, at[c] / MIB] for c in sorted(at)]))
    section.figures = {
        "held": held,
        "cycles": {"series": series, "cycles": cycles, "rss": r["cycle_rss"], "growth": growth},
    }
    top = held.get("100000")
    if top is None:
        section.note("the bytes-per-series target is judged at 100k series, not measured here")
    else:
        section.target(
            f"under {PER_SERIES_TARGET} bytes per series at 100k series",
            top["bytes_per_series"] < PER_SERIES_TARGET,
            f"{top['bytes_per_series']:.0f} bytes/series",
        )
    section.target(
        f"no RSS growth from cycle {points[0]} to {points[-1]} (tolerance 1 MiB)",
        growth <= GROWTH_TOLERANCE,
        f"{growth / 1024:+.0f} KiB",
    )
