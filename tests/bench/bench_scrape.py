"""Benchmark 1: what a scrape of /metrics costs at 1k, 10k and 100k series.

Three servers hold the same series, each in its own process pinned to one CPU, while the client
(aiohttp, in this process) runs pinned to the other:
  poller  the real app from poller.server.build_app over a store filled by normalize + publish
  naive   prometheus-client Gauges with labels, served by prometheus_client.aiohttp's handler
  floor   an aiohttp handler returning the poller's exact bytes from memory
Latency is the time from sending the request to reading the last body byte (the client does not
decompress), one request at a time on a kept-alive connection. Throughput is scrapes completed
per second by 4 clients scraping back to back.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from poller.selfmetrics import RENDER_MAX_AGE, SelfMetrics
from tests.bench.common import (
    BenchError,
    Section,
    child,
    dataset_file,
    median,
    percentile,
    table,
)
from tests.bench.data import QUERY

SERVERS = ("poller", "naive", "floor")
FULL_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
CLIENTS = 4
# Prometheus' own scrapes take the 0.0.4 text format; the naive handler would send OpenMetrics
# to Prometheus' default Accept header, a different (longer) body.
ACCEPT = "text/plain;version=0.0.4"
LATENCY_TARGET_FLOOR = 1.5  # poller median <= 1.5 x floor at 100k
LATENCY_TARGET_NAIVE = 20.0  # poller median at least 20x below naive at 100k
DATA_PREFIX = b"genesyscloud_flow_"


def _headers(packed: bool) -> dict[str, str]:
    return {"Accept": ACCEPT, "Accept-Encoding": "gzip" if packed else "identity"}


async def scrape(http: aiohttp.ClientSession, url: str, packed: bool) -> tuple[float, int]:
    """(seconds, body bytes) of one GET /metrics, reading the body as it arrives."""
    begun = time.perf_counter()
    async with http.get(url, headers=_headers(packed)) as resp:
        if resp.status != 200:
            raise BenchError(f"GET {url} answered {resp.status}")
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
    return time.perf_counter() - begun, size


async def check_body(http: aiohttp.ClientSession, url: str, series: int) -> dict[str, int]:
    """Both encodings of the server's answer hold exactly `series` data samples."""
    sizes = {}
    for packed in (False, True):
        async with http.get(url, headers=_headers(packed)) as resp:
            raw = await resp.read()
            encoding = resp.headers.get("Content-Encoding", "")
        if packed and encoding != "gzip":
            raise BenchError(f"{url} ignored Accept-Encoding: gzip (got {encoding!r})")
        body = gzip.decompress(raw) if packed else raw
        found = sum(1 for line in body.splitlines() if line.startswith(DATA_PREFIX))
        if found != series:
            raise BenchError(f"{url} serves {found} data samples, expected {series}")
        sizes["gzip_bytes" if packed else "plain_bytes"] = len(raw)
    return sizes


async def latency(
    http: aiohttp.ClientSession, url: str, packed: bool, *, budget: float, at_least: int,
    at_most: int,
) -> list[float]:  # fmt: skip
    for _ in range(2):  # warm up the connection and the server's caches
        await scrape(http, url, packed)
    times: list[float] = []
    deadline = time.monotonic() + budget
    while len(times) < at_most and (len(times) < at_least or time.monotonic() < deadline):
        times.append((await scrape(http, url, packed))[0])
    return times


async def throughput(
    http: aiohttp.ClientSession, url: str, packed: bool, *, seconds: float
) -> float:
    """Scrapes per second completed by CLIENTS clients scraping back to back for `seconds`
    (every client finishes the scrape it is in, and the time counts until the last one)."""
    begun = time.perf_counter()
    deadline = begun + seconds
    done = 0

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await scrape(http, url, packed)
            done += 1

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return done / (time.perf_counter() - begun)


async def measure_server(
    kind: str, series: int, *, quick: bool, server_cpu: int | None
) -> dict[str, Any]:
    path = dataset_file(series)
    out: dict[str, Any] = {}
    async with child(kind, "--data", str(path), cpu=server_cpu) as proc:
        url = proc.url + "/metrics"
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as http:
            out.update(await check_body(http, url, series))
            for packed in (False, True):
                enc = "gzip" if packed else "plain"
                times = await latency(
                    http, url, packed,
                    budget=1.0 if quick else 3.0,
                    at_least=3 if quick else 5,
                    at_most=50 if quick else 300,
                )  # fmt: skip
                med = median(times)
                # Rounds long enough for every client to finish a few scrapes.
                seconds = max(0.5 if quick else 1.5, med * 3)
                rounds = 1 if quick or med > 0.3 else 3
                rates = [
                    await throughput(http, url, packed, seconds=seconds) for _ in range(rounds)
                ]
                out[enc] = {
                    "median_ms": med * 1000,
                    "p99_ms": percentile(times, 99) * 1000,
                    "requests": len(times),
                    "scrapes_per_second": median(rates),
                    "throughput_rounds": rounds,
                }
    return out


def self_metrics_ms(times: int = 300) -> dict[str, float]:
    """Median time the server spends on its own metrics per gzip scrape: within RENDER_MAX_AGE
    of the last rendering (reused), and when they are rendered afresh (every scrape at any real
    scrape interval)."""
    clock = [0.0]
    metrics = SelfMetrics(monotonic=lambda: clock[0])
    metrics.add_query(QUERY, 3600.0)
    took: dict[str, list[float]] = {"reused": [], "rendered": []}
    for _ in range(times):
        for case in took:
            if case == "rendered":
                clock[0] += RENDER_MAX_AGE
            begun = time.perf_counter()
            metrics.render_gzip()
            took[case].append(time.perf_counter() - begun)
    return {case: median(values) * 1000 for case, values in took.items()}


def _cpus() -> tuple[int | None, set[int] | None]:
    """The CPU for servers, and the client's CPUs, when there are two to split."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[-1], {cpus[0]}


async def run(section: Section, *, sizes: Sequence[int] | None = None) -> None:
    quick = section.quick
    sizes = sizes or (QUICK_SIZES if quick else FULL_SIZES)
    if quick:
        section.note("--quick: 1k and 10k series only, ~1 s of requests per case, one round")
    server_cpu, client_cpus = _cpus()
    saved = os.sched_getaffinity(0)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    results: dict[str, dict[str, Any]] = {}
    try:
        for series in sizes:
            for kind in SERVERS:
                print(f"  scrape: {kind} at {series:,} series ...", flush=True)
                results.setdefault(str(series), {})[kind] = await measure_server(
                    kind, series, quick=quick, server_cpu=server_cpu
                )
    finally:
        os.sched_setaffinity(0, saved)
    own = self_metrics_ms()
    section.figures = {"clients": CLIENTS, "by_series": results, "self_metrics_render_ms": own}
    if server_cpu is not None:
        section.note(
            f"servers pinned to CPU {server_cpu}, client to CPU {sorted(client_cpus or [])}"
        )
    _print(results)
    print(
        f"\nThe poller's own metrics per scrape (medians, in this process): {own['reused']:.3f}"
        f" ms within {RENDER_MAX_AGE:g} s of the last rendering, {own['rendered']:.3f} ms when"
        " rendered afresh (every scrape at any real scrape interval); the floor serves a copy"
        " rendered once."
    )
    _targets(section, results)


def _print(results: dict[str, dict[str, Any]]) -> None:
    for enc in ("plain", "gzip"):
        rows = []
        for series, by_kind in results.items():
            p, n, f = by_kind["poller"][enc], by_kind["naive"][enc], by_kind["floor"][enc]
            size = by_kind["poller"][f"{enc}_bytes"]
            rows.append(
                [
                    int(series), f"{size / 1e6:.2f}",
                    p["median_ms"], p["p99_ms"], n["median_ms"], n["p99_ms"],
                    f["median_ms"], f["p99_ms"],
                    p["scrapes_per_second"], n["scrapes_per_second"], f["scrapes_per_second"],
                    f"{p['median_ms'] / f['median_ms']:.2f}x",
                    f"{n['median_ms'] / p['median_ms']:.1f}x",
                ]
            )  # fmt: skip
        print(f"\nScrape cost, {enc} (ms; scrapes/s with {CLIENTS} clients)")
        print(
            table(
                [
                    "series", "MB", "poller med", "p99", "naive med", "p99", "floor med", "p99",
                    "poller/s", "naive/s", "floor/s", "poller/floor", "naive/poller",
                ],
                rows,
            )
        )  # fmt: skip


def _targets(section: Section, results: dict[str, dict[str, Any]]) -> None:
    top = results.get("100000")
    if top is None:
        section.note("scrape targets are judged at 100k series, not measured in this run")
        return
    for enc in ("plain", "gzip"):
        p = top["poller"][enc]["median_ms"]
        f = top["floor"][enc]["median_ms"]
        n = top["naive"][enc]["median_ms"]
        section.target(
            f"100k series, {enc}: poller median scrape <= {LATENCY_TARGET_FLOOR}x the floor",
            p <= LATENCY_TARGET_FLOOR * f,
            f"{p:.1f} ms vs floor {f:.1f} ms = {p / f:.2f}x",
        )
        section.target(
            f"100k series, {enc}: poller median scrape >= {LATENCY_TARGET_NAIVE:g}x below naive",
            n >= LATENCY_TARGET_NAIVE * p,
            f"naive {n:.1f} ms / poller {p:.1f} ms = {n / p:.1f}x",
        )
