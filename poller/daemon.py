"""Puts the stages together: config -> scheduler -> client -> normalize -> store -> server.

Also owns the lifecycle: start, reload (SIGHUP or POST /-/reload) and a prompt, clean stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from poller.budget import RequestBudget
from poller.config.model import Config, Credentials
from poller.config.webconfig import WebConfig
from poller.digest import Digester
from poller.errors import ConfigError
from poller.genesys import GenesysClient
from poller.logsetup import register_secret
from poller.names import NamesRefresher, query_reserve
from poller.poll import QueryPoller
from poller.reload import plan_reload
from poller.scheduler import Scheduler
from poller.selfmetrics import SelfMetrics
from poller.server import ServerState, build_app
from poller.store import SnapshotStore

log = structlog.get_logger("poller.daemon")
STOP_TIMEOUT = 4.0
# The scheduler job (and task name) of the names refresh; query names cannot start with "_".
NAMES_JOB = "_names"


@dataclass(frozen=True, slots=True)
class Clocks:
    """Time and chance, injected so tests never wait."""

    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: Callable[[], float] = random.random


class Daemon:
    def __init__(
        self,
        config: Config,
        credentials: Credentials,
        *,
        loader: Callable[[], Config] | None = None,
        clocks: Clocks | None = None,
        metrics: SelfMetrics | None = None,
        digester: Digester | None = None,
    ) -> None:
        self.config = config
        self._credentials = credentials
        self._loader = loader
        self._clocks = clocks or Clocks()
        self.metrics = metrics or SelfMetrics()
        self.store = SnapshotStore()
        self.digester = digester or Digester()
        register_secret(credentials.client_secret.reveal())
        self.client = self._new_client(config)
        self.pollers: dict[str, QueryPoller] = {}
        self._scheduler: Scheduler | None = None
        # Polls in flight and the query each is for, so stop() and reloads can cancel them.
        self._tasks: dict[asyncio.Task[Any], str] = {}
        for query in config.queries:
            self._add_poller(query.name)
        self.names = NamesRefresher(config.names, self.store, self.metrics)
        for warning in config.warnings:
            log.warning("config_warning", source=config.source, problem=warning)
        self._mark_reload(ok=True)

    def _new_client(self, config: Config, budget: RequestBudget | None = None) -> GenesysClient:
        c = self._clocks
        return GenesysClient(
            config.genesys,
            self._credentials,
            self.metrics,
            clock=c.clock,
            sleep=c.sleep,
            rng=c.rng,
            budget=budget,
        )

    def _add_poller(self, name: str, previous: QueryPoller | None = None) -> None:
        query = self.config.query(name)
        poller = QueryPoller(
            query, self.client, self.store, self.metrics, self.digester, clock=self._clocks.clock
        )
        self.pollers[name] = poller
        if previous is None:
            self.metrics.add_query(name, query.every)
            return
        # A changed query keeps serving its old series, and its up and last-success gauges,
        # until its next poll replaces them.
        poller.state = previous.state
        self.metrics.query_interval.labels(name).set(query.every)

    # -- polling -----------------------------------------------------------------------------

    async def poll(self, name: str) -> bool:
        """Run one poll of `name` as a tracked task, so stop() can cancel it."""
        poller = self.pollers.get(name)
        if poller is None:
            return False
        if self.client.paused_until() > self._clocks.clock():
            # Genesys asked for no requests yet (a 429's Retry-After, however long).
            self._skip(name, "paused")
            return False
        with self._tracked(name):
            try:
                return await poller.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug must not kill the schedule: it shows as a failed poll and a traceback.
                log.exception("poll_crashed", query=name)
                self.metrics.poll_failures.labels(name).inc()
                self.metrics.query_up.labels(name).set(0)
                return False

    async def refresh_names(self) -> dict[str, bool]:
        """Read the Architect listings once (a tracked task, like a poll); {kind: succeeded}."""
        if not self.config.names.enabled:
            return {}
        with self._tracked(NAMES_JOB):
            return await self.names.refresh(
                self.client, query_reserve(self.config), self._clocks.clock()
            )

    @contextlib.contextmanager
    def _tracked(self, name: str) -> Iterator[None]:
        """Records the running task under `name`, so stop() and reloads can cancel it."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks[task] = name
        try:
            yield
        finally:
            if task is not None:
                self._tasks.pop(task, None)

    def _skip(self, name: str, reason: str) -> None:
        """A scheduled poll of `name` did not run: counted, and its data checked for staleness."""
        self.metrics.polls_skipped.labels(name, reason).inc()
        if reason == "overrun":
            log.warning("poll_skipped_overrun", query=name)
        poller = self.pollers.get(name)
        if poller is not None:
            poller.check_stale()
        self.metrics.changed()

    async def poll_all(self) -> dict[str, bool]:
        names = list(self.pollers)
        results = await asyncio.gather(*(self.poll(n) for n in names))
        return dict(zip(names, results, strict=True))

    def start_schedule(self) -> None:
        self._scheduler = Scheduler(rng=self._clocks.rng)
        self._scheduler.start()
        for name, poller in self.pollers.items():
            self._schedule(name, poller.query.every)
        self._schedule_names()

    def _schedule_names(self) -> None:
        if self._scheduler is None:
            return
        if not self.config.names.enabled:
            self._scheduler.remove(NAMES_JOB)
            return

        async def job() -> None:
            try:
                await self.refresh_names()
            except asyncio.CancelledError:
                return
            except Exception:
                log.exception("names_refresh_crashed")

        self._scheduler.add(NAMES_JOB, self.config.names.every, job)

    def _schedule(self, name: str, every: float) -> None:
        if self._scheduler is None:
            return

        async def job() -> None:
            try:
                await self.poll(name)
            except asyncio.CancelledError:
                # Only stop() and the scheduler's shutdown cancel a job: an ordinary end, which
                # APScheduler would otherwise log as a job error with a traceback on stderr.
                return

        self._scheduler.add(name, every, job, on_skip=lambda: self._skip(name, "overrun"))

    def readiness(self) -> tuple[bool, dict[str, str]]:
        waiting: dict[str, str] = {}
        for name, poller in self.pollers.items():
            if not poller.state.succeeded_once:
                waiting[name] = poller.state.last_error or "no successful poll yet"
            elif poller.is_stale():
                waiting[name] = (
                    f"data is {poller.age():.0f}s old, over stale_after "
                    f"({poller.query.stale_after_seconds:g}s): {poller.state.last_error}"
                )
        return not waiting, waiting

    # -- reload ------------------------------------------------------------------------------

    async def reload(self) -> tuple[bool, str]:
        """Re-read the config; apply it if valid, keep the running one if not."""
        if self._loader is None:
            return False, "this daemon has no config file to reload"
        try:
            new = self._loader()
        except ConfigError as err:
            self._mark_reload(ok=False)
            log.error("config_reload_failed", problems=err.problems, source=err.source)
            return False, str(err)
        await self.apply(new)
        self._mark_reload(ok=True)
        log.info("config_reloaded", source=new.source, queries=[q.name for q in new.queries])
        return True, "reloaded"

    async def apply(self, new: Config) -> None:
        """Switch to `new`, doing what `plan_reload` says the change needs and nothing more."""
        plan = plan_reload(self.config, new)
        if plan.server_ignored:
            log.warning("config_reload_server_ignored", reason="server.listen needs a restart")
        names_changed = new.names != self.config.names
        self.config = new
        cancel = set(plan.cancel)
        if plan.rebuild_client or names_changed:
            cancel.add(NAMES_JOB)
        await self._cancel_polls(cancel)
        if plan.rebuild_client:
            # The budget's record of recent requests and any 429 pause outlive the reload: the
            # API's limit does not reset because our settings changed.
            keep = self.client.budget
            old_client = self.client
            self.client = self._new_client(new, None if plan.rate_changed else keep)
            if plan.rate_changed:
                self.client.budget.inherit(keep)
            for poller in self.pollers.values():
                poller.client = self.client
            await old_client.close()
        for name in plan.remove:
            if self._scheduler is not None:
                self._scheduler.remove(name)
            del self.pollers[name]
            self.store.drop(name)
            self.metrics.remove_query(name)
        for name in (*plan.replace, *plan.add):
            self._add_poller(name, previous=self.pollers.get(name))
            self._schedule(name, new.query(name).every)
        if names_changed:
            self.names.configure(new.names)
            self._schedule_names()
        for warning in plan.warnings:
            log.warning("config_warning", source=new.source, problem=warning)

    async def _cancel_polls(self, names: set[str]) -> None:
        tasks = [task for task, name in self._tasks.items() if name in names]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)

    def _mark_reload(self, *, ok: bool) -> None:
        self.metrics.config_reload_ok.set(1 if ok else 0)
        if ok:
            self.metrics.config_reload_time.set(self._clocks.clock())
        self.metrics.changed()

    # -- lifecycle ---------------------------------------------------------------------------

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown()
            self._scheduler = None
        await self._cancel_polls(set(self._tasks.values()))
        await self.client.close()
        await self.digester.close()

    def server_state(self, *, enable_lifecycle: bool = False) -> ServerState:
        """What the HTTP server serves; POST /-/reload reloads only with `enable_lifecycle`."""
        return ServerState(
            store=self.store,
            metrics=self.metrics,
            readiness=self.readiness,
            queries=lambda: list(self.pollers),
            reload=self.reload if enable_lifecycle else None,
        )


async def serve(
    daemon: Daemon,
    host: str,
    port: int,
    web_config: WebConfig | None = None,
    *,
    schedule: bool = True,
    enable_lifecycle: bool = False,
) -> web.AppRunner:
    """Start the HTTP server and (unless told not to) the schedule; returns the runner, its
    sockets bound."""
    await daemon.digester.start()
    state = daemon.server_state(enable_lifecycle=enable_lifecycle)
    runner = web.AppRunner(build_app(state, web_config), access_log=None)
    await runner.setup()
    ssl_context = web_config.ssl_context if web_config else None
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    if schedule:
        daemon.start_schedule()
    return runner


def bound_addresses(runner: web.AppRunner) -> list[str]:
    out = []
    for addr in runner.addresses:
        host, port = addr[0], addr[1]
        out.append(f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}")
    return out


async def run_until_signalled(
    daemon: Daemon,
    host: str,
    port: int,
    web_config: WebConfig | None = None,
    on_started: Callable[[list[str]], None] | None = None,
    *,
    enable_lifecycle: bool = False,
) -> int:
    """Serve until SIGTERM or SIGINT; SIGHUP reloads the config (and POST /-/reload too, with
    `enable_lifecycle`). Returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    runner = await serve(daemon, host, port, web_config, enable_lifecycle=enable_lifecycle)
    if on_started is not None:
        on_started(bound_addresses(runner))
    log.info(
        "started",
        listen=bound_addresses(runner),
        queries=list(daemon.pollers),
        api=daemon.config.genesys.api_base_url,
    )
    reloads: set[asyncio.Task[tuple[bool, str]]] = set()

    def on_hup() -> None:
        task = loop.create_task(daemon.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await stop.wait()
    finally:
        # The handlers stay until the stop is done: a second SIGTERM (make and some process
        # managers pass one on to children they already signalled) must not cut it short.
        loop.remove_signal_handler(signal.SIGHUP)
        log.info("stopping")
        await daemon.stop()
        await runner.cleanup()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("stopped")
    return 0
