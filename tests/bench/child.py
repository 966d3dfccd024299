"""The processes benchmarks start, so the code under test never shares the measuring client's
event loop or time slice: `python -m tests.bench.child KIND [options]`.

Servers print `READY <port> [<control port>]` once listening and run until terminated:
  poller   the real app (poller.server.build_app) over a store filled by normalize + publish
  naive    the same series in prometheus-client Gauges, served by make_aiohttp_handler
  floor    an aiohttp handler returning the poller's exact bytes from memory
  genesys  a fake Genesys Cloud answering every aggregate query with the data file, the first
           group's marker set to the request's sequence number; /bench/sent says when each
           answer's last byte was handed to the kernel
  daemon   the real Daemon (schedule off) against --api (`server.decode_worker` from
           --decode-worker), plus a control server: POST /poll runs one poll, GET /lag returns
           the event loop's lateness since the last GET /lag
  simulator  the Genesys Cloud simulator serving --orgs orgs of --flows flows each
  orgs     the real Daemon polling --orgs orgs of the simulator at --api (ORG_QUERIES each, the
           schedule on with --schedule), plus a control server: POST /cycle polls every query of
           every org once, GET /state says which are up and how many series each org exports
Jobs print `RESULT <json>` and exit:
  normalize  per-stage timings of normalize -> prepare -> commit -> assemble, repeated
  memory     RSS of a daemon before and after it holds the data, and over repeated publishes
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import gzip
import itertools
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, Gauge
from prometheus_client.aiohttp import make_aiohttp_handler

from poller.catalog import AGGREGATE_PATH, TOKEN_PATH
from poller.config import parse_config
from poller.config.model import Config, Credentials, CredentialSource, OrgConfig, Secret
from poller.daemon import Daemon
from poller.digest import Digested, DigestJob, digest
from poller.normalize import Snapshot, normalize_aggregate
from poller.render import render_snapshot
from poller.responses import ObservationResponse, decode
from poller.selfmetrics import SelfMetrics
from poller.server import ServerState, build_app
from poller.serving import serve
from poller.simulator import Simulator, SimulatorSettings
from poller.store import SnapshotStore
from poller.timing import Clocks
from tests.bench.common import median, percentile, quiet_logs, rss_bytes
from tests.bench.data import KIND, MARKER_PLACEHOLDER, QUERY, query_yaml
from tests.support.statusdata import blank_status

TICK = 0.005  # the loop-lag ticker's period


def _families(path: str) -> Digested:
    return digest(DigestJob(KIND, QUERY, Path(path).read_bytes(), time.time()))


def _snapshot(path: str) -> Snapshot:
    response = decode(KIND, Path(path).read_bytes())
    assert not isinstance(response, ObservationResponse)
    return normalize_aggregate(QUERY, response)


def _publish(store: SnapshotStore, families: Digested, now: float) -> int:
    return store.commit(store.prepare(QUERY, families, now))


def _self_metrics() -> SelfMetrics:
    metrics = SelfMetrics()
    metrics.add_query(QUERY, 3600.0)
    return metrics


def _filled_store(path: str) -> SnapshotStore:
    store = SnapshotStore()
    _publish(store, _families(path), time.time())
    return store


def poller_app(path: str) -> web.Application:
    state = ServerState(
        store=_filled_store(path),
        metrics=_self_metrics(),
        readiness=lambda: (True, {}),
        status=blank_status,
    )
    return build_app(state)


def naive_app(path: str) -> web.Application:
    snapshot = _snapshot(path)
    registry = CollectorRegistry(auto_describe=False)
    for name, series in snapshot.values.items():
        label_names = [k for k, _ in next(iter(series))]
        gauge = Gauge(name, snapshot.families[name].help, label_names, registry=registry)
        for labels, value in series.items():
            gauge.labels(*(v for _, v in labels)).set(value)
    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(registry))
    return app


def floor_app(path: str) -> web.Application:
    store = _filled_store(path)
    own = _self_metrics().render()
    plain = b"".join(store.exposition().plain) + own
    packed = store.exposition().gzip + gzip.compress(own, compresslevel=1, mtime=0)
    headers = {"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, "Vary": "Accept-Encoding"}

    async def handler(request: web.Request) -> web.Response:
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(body=packed, headers={**headers, "Content-Encoding": "gzip"})
        return web.Response(body=plain, headers=headers)

    app = web.Application()
    app.router.add_get("/metrics", handler)
    return app


def genesys_app(path: str) -> web.Application:
    template = Path(path).read_bytes()
    placeholder = b'"max":%d' % (MARKER_PLACEHOLDER * 1000)
    if template.count(placeholder) != 1:
        raise SystemExit(f"{path} has no unique marker placeholder")
    sequence = itertools.count(1)
    sent: list[tuple[int, float]] = []

    async def token(_request: web.Request) -> web.Response:
        return web.json_response(
            {"access_token": "bench-token-0000", "token_type": "bearer", "expires_in": 86399}
        )

    async def aggregates(request: web.Request) -> web.StreamResponse:
        await request.read()
        marker = next(sequence)
        body = template.replace(placeholder, b'"max":%d' % (marker * 1000))
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body)
        await response.write_eof()
        transport = request.transport
        # write_eof returns with up to the low-water mark still buffered: wait it out. The
        # transport offers no event for an empty buffer, so this polls it.
        while transport is not None and transport.get_write_buffer_size():  # noqa: ASYNC110
            await asyncio.sleep(0)
        sent.append((marker, time.monotonic()))
        return response

    async def get_sent(_request: web.Request) -> web.Response:
        return web.json_response(sent)

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post(TOKEN_PATH, token)
    app.router.add_post(AGGREGATE_PATH, aggregates)
    app.router.add_get("/bench/sent", get_sent)
    return app


class Ticker:
    """Measures how late the event loop wakes a task that sleeps TICK at a time."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self) -> None:
        while True:
            begun = time.monotonic()
            await asyncio.sleep(TICK)
            self.lags.append(time.monotonic() - begun - TICK)

    def take(self) -> dict[str, float]:
        lags, self.lags = self.lags, []
        return {
            "ticks": len(lags),
            "max_ms": max(lags, default=0.0) * 1000,
            "p99_ms": percentile(lags, 99) * 1000 if lags else 0.0,
        }


def daemon_config(api: str, decode_worker: str = "on_demand") -> Any:
    text = (
        "genesys:\n  region: mypurecloud.ie\n  requests_per_minute: 300\n  timeout: 60s\n"
        f'server:\n  listen: "127.0.0.1:0"\n  decode_worker: {decode_worker}\n'
        "queries:\n" + query_yaml()
    )
    env = {"GENESYS_API_BASE_URL": api, "GENESYS_LOGIN_BASE_URL": api}
    return parse_config(text, source="bench", env=env)


async def run_daemon(api: str, *, tick: bool, decode_worker: str) -> None:
    daemon = Daemon(
        daemon_config(api, decode_worker),
        Credentials("bench-client", Secret("bench-secret-0000")),
        clocks=Clocks(rng=lambda: 0.0),
    )
    runner = await serve(daemon, "127.0.0.1", 0, schedule=False)
    ticker = Ticker()
    # Off for memory runs: its list of lags would be counted in the RSS.
    tick_task = asyncio.create_task(ticker.run()) if tick else None

    async def poll(_request: web.Request) -> web.Response:
        begun = time.monotonic()
        ok = await daemon.poll(QUERY)
        return web.json_response({"ok": ok, "seconds": time.monotonic() - begun})

    async def lag(_request: web.Request) -> web.Response:
        return web.json_response(ticker.take())

    control = web.Application()
    control.router.add_post("/poll", poll)
    control.router.add_get("/lag", lag)
    control_runner = web.AppRunner(control, access_log=None)
    await control_runner.setup()
    site = web.TCPSite(control_runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    control_port = control_runner.addresses[0][1]
    print(f"READY {port} {control_port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        if tick_task is not None:
            tick_task.cancel()
        await daemon.stop()
        await runner.cleanup()
        await control_runner.cleanup()


# The four queries each org of the `orgs` benchmark polls: a flow aggregate with several metrics,
# outcomes, milestones and an observation. With 18 flows an org exports about 1,000 series.
ORG_QUERIES = """
  - name: flows_1h
    type: aggregate
    every: {every}
    window: 1h
    group_by: [flowId, flowName, flowType]
    metrics: [nFlow, tFlow, tFlowDisconnect, tFlowExit, nFlowOutcome, nFlowOutcomeFailed]
  - name: outcomes_1h
    type: aggregate
    every: {every}
    window: 1h
    group_by: [flowId, flowName, flowOutcomeId, flowOutcome, flowOutcomeValue]
    metrics: [nFlowOutcome, nFlowOutcomeFailed, tFlowOutcome]
  - name: milestones_1h
    type: aggregate
    every: {every}
    window: 1h
    group_by: [flowId, flowName, flowMilestoneId]
    metrics: [nFlowMilestone, oFlowMilestone]
  - name: flows_active
    type: observation
    every: {every}
    metrics: [oFlow]
    details: true
    filter:
      type: or
      predicates:
        - {{dimension: mediaType, value: voice}}
        - {{dimension: mediaType, value: chat}}
        - {{dimension: mediaType, value: message}}
"""


def org_name(index: int) -> str:
    return f"org{index + 1:03d}"


def orgs_config(api: str, orgs: int, every: int) -> Config:
    """`orgs` orgs of ORG_QUERIES on the simulator at `api`, built from the model as
    tests/integration/test_orgs.py does (names off: no Architect listings)."""
    text = (
        "genesys:\n  region: mypurecloud.ie\n  requests_per_minute: 300\n  timeout: 60s\n"
        'server:\n  listen: "127.0.0.1:0"\nqueries:' + ORG_QUERIES.format(every=f"{every}s")
    )
    base = parse_config(
        text, source="bench-orgs", env={"GENESYS_API_BASE_URL": api, "GENESYS_LOGIN_BASE_URL": api}
    )
    listed = tuple(
        OrgConfig(
            org_name(i),
            base.genesys,
            CredentialSource(
                client_id_env=f"ORG{i + 1}_ID", client_secret_env=f"ORG{i + 1}_SECRET"
            ),
            base.queries,
        )
        for i in range(orgs)
    )
    return dataclasses.replace(
        base, orgs=listed, names=dataclasses.replace(base.names, enabled=False)
    )


def org_series(text: bytes) -> dict[str, Any]:
    """Flow series in an exposition: in all, per org and per query."""
    per_org: dict[str, int] = {}
    per_query: dict[str, int] = {}
    for line in text.split(b"\n"):
        if not line.startswith(b"genesyscloud_flow_"):
            continue
        labels = line[line.index(b"{") :]
        org = labels.split(b'org="', 1)[1].split(b'"', 1)[0].decode()
        query = labels.split(b'query="', 1)[1].split(b'"', 1)[0].decode()
        per_org[org] = per_org.get(org, 0) + 1
        per_query[query] = per_query.get(query, 0) + 1
    return {"total": sum(per_org.values()), "per_org": per_org, "per_query": per_query}


def _total(family: Any) -> float:
    return float(
        sum(s.value for m in family.collect() for s in m.samples if s.name.endswith("_total"))
    )


async def run_orgs(api: str, orgs: int, every: int, *, schedule: bool) -> None:
    clients = SimulatorSettings(orgs=orgs).org_clients()
    by_org = {org_name(i): Credentials(c, Secret(s)) for i, (c, s) in enumerate(clients)}
    daemon = Daemon(orgs_config(api, orgs, every), lambda org: by_org[org.name])
    runner = await serve(daemon, "127.0.0.1", 0, schedule=schedule)

    async def cycle(_request: web.Request) -> web.Response:
        begun = time.monotonic()
        results = await daemon.poll_all()
        return web.json_response(
            {
                "polls": len(results),
                "failed": sorted(job for job, ok in results.items() if not ok),
                "seconds": time.monotonic() - begun,
            }
        )

    async def state(_request: web.Request) -> web.Response:
        down = sorted(
            job
            for job, poller in daemon.pollers.items()
            if poller.state.failing or not poller.state.succeeded_once
        )
        series = org_series(b"".join(daemon.store.exposition().plain))
        m = daemon.metrics
        counts = {
            "polls": _total(m.polls.family),
            "poll_failures": _total(m.poll_failures.family),
            "polls_skipped": _total(m.polls_skipped.family),
        }
        return web.json_response({"queries": len(daemon.pollers), "down": down, **counts, **series})

    control = web.Application()
    control.router.add_post("/cycle", cycle)
    control.router.add_get("/state", state)
    control_runner = web.AppRunner(control, access_log=None)
    await control_runner.setup()
    await web.TCPSite(control_runner, "127.0.0.1", 0).start()
    print(f"READY {runner.addresses[0][1]} {control_runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    # A clean stop on SIGTERM, so the worker's pool is shut down (no leaked-semaphore warnings).
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await daemon.stop()
        await runner.cleanup()
        await control_runner.cleanup()


async def run_simulator(orgs: int, flows: int) -> None:
    simulator = Simulator(SimulatorSettings(seed=11, flows=flows, orgs=orgs))
    await simulator.start("127.0.0.1", 0)
    print(f"READY {simulator.base_url.rsplit(':', 1)[1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.stop()


async def serve_app(app: web.Application) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(f"READY {runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


# -- jobs ---------------------------------------------------------------------------------------


STAGES = ("decode", "normalize", "render", "prepare", "commit", "total", "cpu")


def normalize_job(raw: bytes, reps: int) -> dict[str, Any]:
    """Per-stage timings of what a poll does with a 200 body: the digest's decode, normalize and
    render, then the store's prepare (gzip) and commit (with the assembly the first scrape after
    it does)."""
    parse = []
    for _ in range(min(reps, 3)):
        begun = time.perf_counter()
        json.loads(raw)
        parse.append(time.perf_counter() - begun)
    store = SnapshotStore()
    now = time.time()
    _publish(store, digest(DigestJob(KIND, QUERY, raw, now)), now)  # the previous poll's series
    stages: dict[str, list[float]] = {k: [] for k in STAGES}
    for rep in range(reps):
        gc.collect()
        cpu = time.process_time()
        t0 = time.perf_counter()
        response = decode(KIND, raw)
        assert not isinstance(response, ObservationResponse)
        t1 = time.perf_counter()
        snapshot = normalize_aggregate(QUERY, response)
        t2 = time.perf_counter()
        families = render_snapshot(snapshot)
        t3 = time.perf_counter()
        prepared = store.prepare(QUERY, families, now + rep + 1)
        t4 = time.perf_counter()
        series = store.commit(prepared)
        store.exposition()  # assembled for the first scrape after the commit: part of serving
        t5 = time.perf_counter()
        stages["cpu"].append(time.process_time() - cpu)
        for key, seconds in zip(
            STAGES[:-1], (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0), strict=True
        ):
            stages[key].append(seconds)
        del response, snapshot, families, prepared
    return {
        "series": series,
        "parse": median(parse),
        **{k: median(v) for k, v in stages.items()},
        "runs": stages,
    }


def memory_job(path: str, cycles: int, checkpoints: list[int]) -> dict[str, Any]:
    daemon = Daemon(
        daemon_config("http://127.0.0.1:9"),
        Credentials("bench-client", Secret("bench-secret-0000")),
    )
    store = daemon.store
    gc.collect()
    idle = rss_bytes()
    families = _families(path)
    series = _publish(store, families, time.time())
    gc.collect()
    held = rss_bytes()
    at: dict[str, int] = {}
    for cycle in range(1, cycles + 1):
        _publish(store, _families(path), time.time())
        if cycle in checkpoints:
            gc.collect()
            at[str(cycle)] = rss_bytes()
    return {"series": series, "idle_rss": idle, "held_rss": held, "cycle_rss": at}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.child")
    parser.add_argument("kind")
    parser.add_argument("--data")
    parser.add_argument("--api")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=0)
    parser.add_argument("--checkpoints", default="")
    parser.add_argument("--cpu", type=int)
    parser.add_argument("--no-ticker", action="store_true")
    parser.add_argument("--decode-worker", default="on_demand")
    parser.add_argument("--orgs", type=int, default=1)
    parser.add_argument("--flows", type=int, default=20)
    parser.add_argument("--every", type=int, default=60)
    parser.add_argument("--schedule", action="store_true")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    quiet_logs()
    kind = args.kind
    if kind in ("normalize", "memory"):
        if kind == "normalize":
            result = normalize_job(Path(args.data).read_bytes(), args.reps)
        else:
            points = [int(p) for p in args.checkpoints.split(",") if p]
            result = memory_job(args.data, args.cycles, points)
        print("RESULT " + json.dumps(result), flush=True)
        return
    if kind == "daemon":
        asyncio.run(run_daemon(args.api, tick=not args.no_ticker, decode_worker=args.decode_worker))
        return
    if kind == "orgs":
        asyncio.run(run_orgs(args.api, args.orgs, args.every, schedule=args.schedule))
        return
    if kind == "simulator":
        asyncio.run(run_simulator(args.orgs, args.flows))
        return
    apps = {"poller": poller_app, "naive": naive_app, "floor": floor_app, "genesys": genesys_app}
    if kind not in apps:
        sys.exit(f"unknown kind {kind!r}")
    app = apps[kind](args.data)
    gc.collect()
    asyncio.run(serve_app(app))


if __name__ == "__main__":
    main()
