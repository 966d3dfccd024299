"""Benchmark 2: from a parsed response to the exposition being served.

Part A (a child process pinned to one CPU): samples per second from a response's raw 200 body
to a published exposition: what the worker process does (msgspec's typed decode, normalize,
render with gzip) and then the store (prepare: zero-fill; commit: swap and assemble), with the
store already holding the previous poll's series, as in steady state. Plain `json.loads` of the
same body is shown beside it as a baseline, not counted.

Part B (three processes): a real daemon polls a fake Genesys Cloud that answers with the
100k-sample JSON, its first group marked with the request's sequence number. The figure is the
time from when the fake API handed the response's last byte to the kernel to when a /metrics
probe (a new request every few milliseconds, reading up to the first sample) first shows the
new marker. Meanwhile a scrape loop fetches the whole gzip exposition back to back, and a ticker
task in the daemon's event loop sleeps 5 ms at a time and records how late it wakes: the loop's
longest block.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

import aiohttp

from tests.bench.common import (
    BenchError,
    Section,
    child,
    dataset_file,
    median,
    percentile,
    run_job,
    table,
)
from tests.bench.data import MARKER_FAMILY, MARKER_PLACEHOLDER

FULL_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000, 100_000)
FULL_REPS = {1_000: 15, 10_000: 9, 100_000: 5}
QUICK_REPS = {1_000: 3, 10_000: 3, 100_000: 1}
PUBLISH_TARGET = 1.0  # seconds for 100k samples, normalize to published
LAG_TARGET_MS = 50.0
P99_TARGET_MS = 50.0  # /metrics and /healthz while 100k-sample polls run
MAX_TARGET_MS = 250.0
HEALTHZ_EVERY = 0.01
E2E_SERIES = 100_000
PROBE_EVERY = 0.002


async def run(section: Section) -> None:
    quick = section.quick
    await throughput(section, quick)
    await end_to_end(section, polls=2 if quick else 5)


# -- part A -------------------------------------------------------------------------------------


async def throughput(section: Section, quick: bool) -> None:
    sizes = QUICK_SIZES if quick else FULL_SIZES
    reps = QUICK_REPS if quick else FULL_REPS
    cpu = max(os.sched_getaffinity(0))
    rows = []
    figures: dict[str, Any] = {}
    for series in sizes:
        print(f"  normalize: {series:,} samples x {reps[series]} ...", flush=True)
        r = await run_job(
            "normalize", "--data", str(dataset_file(series)), "--reps", str(reps[series]), cpu=cpu
        )
        if r["series"] != series:
            raise BenchError(f"published {r['series']} series, expected {series}")
        r["samples_per_second"] = series / r["total"]
        figures[str(series)] = r
        rows.append(
            [
                series,
                reps[series],
                r["parse"] * 1000,
                r["decode"] * 1000,
                r["normalize"] * 1000,
                r["render"] * 1000,
                r["prepare"] * 1000,
                r["commit"] * 1000,
                r["total"] * 1000,
                r["cpu"] * 1000,
                r["samples_per_second"],
            ]
        )
    section.figures["publish"] = figures
    section.figures["publish_cpu"] = cpu
    print(f"\nRaw response -> published exposition (medians, ms; one process pinned to CPU {cpu})")
    print(
        table(
            [
                "samples",
                "runs",
                "(json.loads)",
                "decode",
                "normalize",
                "render",
                "prepare",
                "commit",
                "total",
                "total CPU",
                "samples/s",
            ],
            rows,
        )
    )
    top = figures.get(str(100_000))
    if top is not None:
        section.target(
            f"100k samples normalized and published in under {PUBLISH_TARGET:g} s on one core",
            top["total"] < PUBLISH_TARGET,
            f"median {top['total'] * 1000:.0f} ms wall, {top['cpu'] * 1000:.0f} ms CPU",
        )


# -- part B -------------------------------------------------------------------------------------


async def first_sample(http: aiohttp.ClientSession, url: str) -> float | None:
    """The value of the exposition's first sample if it is the marker family's, else None."""
    async with http.get(url, headers={"Accept-Encoding": "identity"}) as resp:
        buf = b""
        while True:
            chunk = await resp.content.read(1 << 16)
            if not chunk:
                return None
            buf += chunk
            for line in buf.split(b"\n")[:-1]:
                if line.startswith(b"#"):
                    continue
                if not line.startswith(MARKER_FAMILY.encode() + b"{"):
                    return None
                return float(line.rsplit(b" ", 1)[1])


async def scrape_loop(
    http: aiohttp.ClientSession, url: str, counter: list[int], took: list[float]
) -> None:
    """Full gzip scrapes back to back, each one's latency recorded."""
    while True:
        begun = time.monotonic()
        async with http.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
            async for _ in resp.content.iter_any():
                pass
        took.append(time.monotonic() - begun)
        counter[0] += 1


async def healthz_loop(http: aiohttp.ClientSession, url: str, took: list[float]) -> None:
    """A liveness probe every HEALTHZ_EVERY, each one's latency recorded."""
    while True:
        begun = time.monotonic()
        async with http.get(url) as resp:
            await resp.read()
        took.append(time.monotonic() - begun)
        await asyncio.sleep(HEALTHZ_EVERY)


async def end_to_end(section: Section, *, polls: int) -> None:
    series = E2E_SERIES
    path = dataset_file(series, marker=MARKER_PLACEHOLDER)
    print(f"  end to end: {polls} polls of {series:,} samples ...", flush=True)
    runs: list[dict[str, Any]] = []
    async with (
        child("genesys", "--data", str(path)) as api,
        child("daemon", "--api", api.url) as daemon,
        aiohttp.ClientSession(auto_decompress=False) as http,
    ):
        metrics = daemon.url + "/metrics"
        control = daemon.control_url
        scrapes = [0]
        latency: dict[str, list[float]] = {"/metrics (gzip)": [], "/healthz": []}
        tasks = [
            asyncio.create_task(scrape_loop(http, metrics, scrapes, latency["/metrics (gzip)"])),
            asyncio.create_task(healthz_loop(http, daemon.url + "/healthz", latency["/healthz"])),
        ]
        try:
            await asyncio.sleep(1.0)  # the scrape loop alone, for the idle lag figure
            idle = await _json(http, "GET", control + "/lag")
            for took in latency.values():
                took.clear()
            for marker in range(1, polls + 1):
                runs.append(await one_poll(http, api.url, metrics, control, marker, scrapes))
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    latencies = [r["visible_after_ms"] for r in runs]
    lags = [r["lag"]["max_ms"] for r in runs]
    section.figures["end_to_end"] = {
        "series": series,
        "runs": runs,
        "idle_lag": idle,
        "visible_after_ms_median": median(latencies),
        "poll_seconds_median": median([r["poll_seconds"] for r in runs]),
        "max_loop_lag_ms": max(lags),
    }
    print(f"\nReal daemon poll of {series:,} samples (fake Genesys API, scrape loop running)")
    print(
        table(
            [
                "poll",
                "poll s",
                "last byte -> served ms",
                "probe resolution ms",
                "max loop lag ms",
                "p99 lag ms",
                "ticks",
                "scrapes meanwhile",
            ],
            [
                [
                    i + 1,
                    r["poll_seconds"],
                    r["visible_after_ms"],
                    r["probe_ms"],
                    r["lag"]["max_ms"],
                    r["lag"]["p99_ms"],
                    r["lag"]["ticks"],
                    r["scrapes"],
                ]
                for i, r in enumerate(runs)
            ]
            + [["idle", "-", "-", "-", idle["max_ms"], idle["p99_ms"], idle["ticks"], "-"]],
        )
    )
    section.target(
        f"event loop never blocked over {LAG_TARGET_MS:g} ms during a 100k-sample poll",
        max(lags) <= LAG_TARGET_MS,
        f"longest block {max(lags):.1f} ms over {len(runs)} polls",
    )
    rows = []
    for endpoint, took in latency.items():
        p99, worst = percentile(took, 99) * 1000, max(took) * 1000
        rows.append([endpoint, len(took), median(took) * 1000, p99, worst])
        section.figures["end_to_end"][f"{endpoint} p99_ms"] = p99
        section.figures["end_to_end"][f"{endpoint} max_ms"] = worst
        section.target(
            f"{endpoint} answered with p99 <= {P99_TARGET_MS:g} ms and max <= {MAX_TARGET_MS:g} ms "
            "while 100k-sample polls run",
            p99 <= P99_TARGET_MS and worst <= MAX_TARGET_MS,
            f"p99 {p99:.1f} ms, max {worst:.1f} ms over {len(took)} requests",
        )
    print(f"\nRequest latency during the {len(runs)} polls (client side, ms)")
    print(table(["path", "requests", "median", "p99", "max"], rows))


async def _json(http: aiohttp.ClientSession, method: str, url: str) -> Any:
    async with http.request(method, url) as resp:
        if resp.status != 200:
            raise BenchError(f"{method} {url} answered {resp.status}")
        return await resp.json()


async def one_poll(
    http: aiohttp.ClientSession,
    api: str,
    metrics: str,
    control: str,
    marker: int,
    scrapes: list[int],
) -> dict[str, Any]:
    await _json(http, "GET", control + "/lag")  # start the lag window here
    before = scrapes[0]
    poll = asyncio.create_task(_json(http, "POST", control + "/poll"))
    seen_at = probe_ms = None
    deadline = time.monotonic() + 120
    while seen_at is None:
        if time.monotonic() > deadline:
            raise BenchError(f"marker {marker} never showed on /metrics")
        begun = time.monotonic()
        value = await first_sample(http, metrics)
        if value == float(marker):
            seen_at = time.monotonic()
            probe_ms = (seen_at - begun) * 1000
        elif poll.done() and poll.exception():
            raise BenchError(f"poll failed: {poll.exception()}")
        else:
            await asyncio.sleep(PROBE_EVERY)
    result = await poll
    if not result["ok"]:
        raise BenchError("the daemon's poll failed")
    lag = await _json(http, "GET", control + "/lag")
    sent = dict(await _json(http, "GET", api + "/bench/sent"))
    if marker not in sent:
        raise BenchError(f"the fake API never sent marker {marker}")
    return {
        "poll_seconds": result["seconds"],
        "visible_after_ms": (seen_at - sent[marker]) * 1000,
        "probe_ms": probe_ms,
        "lag": lag,
        "scrapes": scrapes[0] - before,
    }
