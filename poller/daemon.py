"""Puts the stages together: config -> scheduler -> client -> normalize -> store -> server.

Also owns the lifecycle: start, reload (SIGHUP or POST /-/reload) and a prompt, clean stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from aiohttp import web

from poller import scope, status
from poller.config.model import Config, Credentials, OrgConfig
from poller.config.webconfig import WebConfig
from poller.digest import Digester
from poller.errors import ConfigError
from poller.logsetup import register_secret
from poller.org import OrgPolling
from poller.poll import QueryPoller
from poller.reload import plan_org
from poller.scheduler import Scheduler
from poller.selfmetrics import SelfMetrics
from poller.server import ServerState, build_app
from poller.shard import Shard
from poller.store import SnapshotStore
from poller.timing import Clocks as Clocks

log = structlog.get_logger("poller.daemon")
STOP_TIMEOUT = 4.0
# What gives an org its OAuth client: one Credentials for every org (tests, the one org of a
# config without `orgs:`), or a function that reads each org's from where its config says.
CredentialsFor = Credentials | Callable[[OrgConfig], Credentials]


class Daemon:
    def __init__(
        self,
        config: Config,
        credentials: CredentialsFor,
        *,
        loader: Callable[[], Config] | None = None,
        clocks: Clocks | None = None,
        metrics: SelfMetrics | None = None,
        digester: Digester | None = None,
        shard: Shard | None = None,
    ) -> None:
        self.shard = shard or Shard()
        _check_sharding(config, self.shard)
        self.config = config
        self._credentials = credentials
        self._loader = loader
        self._clocks = clocks or Clocks()
        self.metrics = metrics or SelfMetrics(org_label=config.has_orgs)
        if self.metrics.org_label != config.has_orgs:
            raise ValueError("the self-metrics' org label must match whether the config has orgs")
        self.store = SnapshotStore()
        self.digester = digester or Digester(start_worker=config.server.decode_worker == "at_start")
        self.orgs: dict[str, OrgPolling] = {}
        self._scheduler: Scheduler | None = None
        self.started_at = self._clocks.clock()
        # (succeeded, when, what happened) of the last config load or reload.
        self.last_reload: tuple[bool, float, str] = (True, self.started_at, "loaded")
        # Polls in flight and the job (scope.key) each is for, so stop() and reloads can cancel.
        self._tasks: dict[asyncio.Task[Any], str] = {}
        if config.has_orgs:
            self.metrics.shard_info.labels(str(self.shard.index), str(self.shard.count)).set(1)
        owned = self._owned(config)
        credentials_by_org = self._resolve(owned)
        for org in owned:
            self._add_org(org, credentials_by_org[org.name])
        if config.has_orgs and not owned:
            log.warning("no_org_owned", shard=self.shard.index, shards=self.shard.count)
        for warning in config.warnings:
            log.warning("config_warning", source=config.source, problem=warning)
        self._mark_reload(ok=True)

    def _owned(self, config: Config) -> list[OrgConfig]:
        return [org for org in config.org_list() if self.shard.owns(org.name)]

    def _resolve(self, orgs: list[OrgConfig]) -> dict[str, Credentials]:
        """{org: its OAuth client}; one ConfigError lists every org's problems."""
        out: dict[str, Credentials] = {}
        problems: list[str] = []
        for org in orgs:
            given = self._credentials
            try:
                credentials = given if isinstance(given, Credentials) else given(org)
            except ConfigError as err:
                problems += err.problems
                continue
            register_secret(credentials.client_secret.reveal())
            out[org.name] = credentials
        if problems:
            raise ConfigError(problems, source="environment")
        return out

    def _add_org(self, org: OrgConfig, credentials: Credentials) -> OrgPolling:
        polling = OrgPolling(
            org,
            credentials,
            self.config.names,
            store=self.store,
            digester=self.digester,
            metrics=self.metrics,
            clocks=self._clocks,
        )
        self.orgs[org.name] = polling
        return polling

    @property
    def pollers(self) -> dict[str, QueryPoller]:
        """Every query poller, by its job (`org/query`, or the query for an unnamed org)."""
        return {p.key: p for org in self.orgs.values() for p in org.pollers.values()}

    def org(self, name: str = "") -> OrgPolling:
        """The org `name` polls (the one of a config without `orgs:` by default)."""
        return self.orgs[name]

    # -- polling -----------------------------------------------------------------------------

    async def poll(self, job: str) -> bool:
        """Run one poll of `job` (a query's scope.key) as a tracked task, so stop() can cancel."""
        org_name, name = scope.split(job)
        org = self.orgs.get(org_name)
        poller = org.pollers.get(name) if org is not None else None
        if org is None or poller is None:
            return False
        if org.client.paused_until() > self._clocks.clock():
            # Genesys asked this org's client for no requests yet (a 429's Retry-After).
            self._skip(job, "paused")
            return False
        with self._tracked(job):
            return await poller.run()

    async def refresh_names(self, org_name: str = "") -> dict[str, bool]:
        """Read an org's Architect listings once (a tracked task, like a poll); {kind: ok}."""
        org = self.orgs.get(org_name)
        if org is None or not self.config.names.enabled:
            return {}
        with self._tracked(org.names_job):
            return await org.refresh_names(self._clocks.clock())

    @contextlib.contextmanager
    def _tracked(self, job: str) -> Iterator[None]:
        """Records the running task under `job`, so stop() and reloads can cancel it."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks[task] = job
        try:
            yield
        finally:
            if task is not None:
                self._tasks.pop(task, None)

    def _skip(self, job: str, reason: str) -> None:
        """A scheduled poll did not run: counted, and its data checked for staleness."""
        org_name, name = scope.split(job)
        org = self.orgs.get(org_name)
        if org is None:
            return
        org.metrics.polls_skipped.labels(name, reason).inc()
        if reason == "overrun":
            log.warning("poll_skipped_overrun", **scope.log_fields(org_name), query=name)
        poller = org.pollers.get(name)
        if poller is not None:
            poller.check_stale()
        self.metrics.changed()

    async def poll_all(self) -> dict[str, bool]:
        """Poll every query of every org once, at the same time; {job: succeeded}."""
        jobs = list(self.pollers)
        results = await asyncio.gather(*(self.poll(job) for job in jobs))
        return dict(zip(jobs, results, strict=True))

    def start_schedule(self) -> None:
        self._scheduler = Scheduler(rng=self._clocks.rng)
        self._scheduler.start()
        for org in self.orgs.values():
            self._schedule_org(org)

    def _schedule_org(self, org: OrgPolling) -> None:
        for poller in org.pollers.values():
            self._schedule(poller.key, poller.query.every)
        self._schedule_names(org)

    def _schedule_names(self, org: OrgPolling) -> None:
        if self._scheduler is None:
            return
        if not self.config.names.enabled:
            self._scheduler.remove(org.names_job)
            return

        async def job() -> None:
            try:
                await self.refresh_names(org.name)
            except asyncio.CancelledError:
                return
            except Exception:
                log.exception("names_refresh_crashed", **scope.log_fields(org.name))

        self._scheduler.add(org.names_job, self.config.names.every, job)

    def _schedule(self, job_key: str, every: float) -> None:
        if self._scheduler is None:
            return

        async def job() -> None:
            try:
                await self.poll(job_key)
            except asyncio.CancelledError:
                # Only stop() and the scheduler's shutdown cancel a job: an ordinary end, which
                # APScheduler would otherwise log as a job error with a traceback on stderr.
                return

        self._scheduler.add(job_key, every, job, on_skip=lambda: self._skip(job_key, "overrun"))

    def _unschedule(self, job: str) -> None:
        if self._scheduler is not None:
            self._scheduler.remove(job)

    def readiness(self) -> tuple[bool, dict[str, str]]:
        """(ready, {job: why not}). A replica that owns no org is ready: it has nothing to do."""
        waiting: dict[str, str] = {}
        for job, poller in self.pollers.items():
            if not poller.state.succeeded_once:
                waiting[job] = poller.state.last_error or "no successful poll yet"
            elif poller.is_stale():
                waiting[job] = (
                    f"data is {poller.age():.0f}s old, over stale_after "
                    f"({poller.query.stale_after_seconds:g}s): {poller.state.last_error}"
                )
        return not waiting, waiting

    def ownership(self) -> dict[str, Any]:
        """What this replica polls, for /readyz and the status page: {} without `orgs:`."""
        if not self.config.has_orgs:
            return {}
        return {
            "shard": {"index": self.shard.index, "count": self.shard.count},
            "orgs": sorted(self.orgs),
        }

    # -- reload ------------------------------------------------------------------------------

    async def reload(self) -> tuple[bool, str]:
        """Re-read the config; apply it if valid, keep the running one if not."""
        if self._loader is None:
            return False, "this daemon has no config file to reload"
        try:
            new = self._loader()
            if new.has_orgs != self.config.has_orgs:
                raise ConfigError(
                    [
                        "adding or removing orgs: changes the labels of every series (org); "
                        "restart the poller to apply it"
                    ],
                    new.source,
                )
            credentials = self._resolve(self._owned(new))
        except ConfigError as err:
            self._mark_reload(ok=False, message=str(err))
            log.error("config_reload_failed", problems=err.problems, source=err.source)
            return False, str(err)
        await self.apply(new, credentials)
        self._mark_reload(ok=True, message="reloaded")
        log.info(
            "config_reloaded",
            source=new.source,
            queries=list(self.pollers),
            **({"orgs": sorted(self.orgs)} if new.has_orgs else {}),
        )
        return True, "reloaded"

    async def apply(self, new: Config, credentials: dict[str, Credentials] | None = None) -> None:
        """Switch to `new`: orgs it no longer gives this replica stop, new ones start, and each
        kept org does what `plan_org` says its change needs and nothing more."""
        owned = {org.name: org for org in self._owned(new)}
        if credentials is None:
            # Before anything changes: an unreadable credential leaves the running config be.
            credentials = self._resolve(list(owned.values()))
        if new.server != self.config.server:
            log.warning("config_reload_server_ignored", reason="server.listen needs a restart")
        names_changed = new.names != self.config.names
        self.config = new
        for name in [name for name in self.orgs if name not in owned]:
            await self._remove_org(self.orgs[name])
        for name, org_config in owned.items():
            org = self.orgs.get(name)
            if org is None:
                org = self._add_org(org_config, credentials[name])
                self._schedule_org(org)
                log.info("org_added", org=name, queries=[q.name for q in org_config.queries])
                continue
            await self._apply_org(org, org_config, credentials[name], names_changed)
        for warning in new.warnings:
            log.warning("config_warning", source=new.source, problem=warning)

    async def _apply_org(
        self, org: OrgPolling, new: OrgConfig, credentials: Credentials, names_changed: bool
    ) -> None:
        plan = plan_org(org.config, new, credentials_changed=credentials != org.credentials)
        org.config = new
        cancel = {scope.key(org.name, name) for name in plan.cancel}
        if plan.rebuild_client or names_changed:
            cancel.add(org.names_job)
        await self._cancel_polls(cancel)
        if plan.rebuild_client:
            await org.replace_client(new, credentials, rate_changed=plan.rate_changed)
        for name in plan.remove:
            self._unschedule(scope.key(org.name, name))
            org.remove_poller(name)
        for name in (*plan.replace, *plan.add):
            poller = org.add_poller(name, previous=org.pollers.get(name))
            self._schedule(poller.key, poller.query.every)
        if names_changed:
            org.names.configure(self.config.names)
            self._schedule_names(org)

    async def _remove_org(self, org: OrgPolling) -> None:
        jobs = {poller.key for poller in org.pollers.values()} | {org.names_job}
        for job in jobs:
            self._unschedule(job)
        await self._cancel_polls(jobs)
        del self.orgs[org.name]
        org.forget()
        await org.close()
        log.info("org_removed", org=org.name)

    async def _cancel_polls(self, jobs: set[str]) -> None:
        tasks = [task for task, job in self._tasks.items() if job in jobs]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)

    def _mark_reload(self, *, ok: bool, message: str = "loaded") -> None:
        now = self._clocks.clock()
        self.last_reload = (ok, now, message)
        self.metrics.config_reload_ok.set(1 if ok else 0)
        if ok:
            self.metrics.config_reload_time.set(now)
        self.metrics.changed()

    def next_run(self, job: str) -> float | None:
        """Unix time of `job`'s next scheduled run; None without a schedule."""
        return self._scheduler.next_run(job) if self._scheduler is not None else None

    def status(self) -> dict[str, Any]:
        """The status page's data (see poller.status): the daemon's state only, at once."""
        return status.collect(self, self._clocks.clock())

    # -- lifecycle ---------------------------------------------------------------------------

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown()
            self._scheduler = None
        await self._cancel_polls(set(self._tasks.values()))
        for org in self.orgs.values():
            await org.close()
        await self.digester.close()

    def server_state(self, *, enable_lifecycle: bool = False) -> ServerState:
        """What the HTTP server serves; POST /-/reload reloads only with `enable_lifecycle`."""
        return ServerState(
            store=self.store,
            metrics=self.metrics,
            readiness=self.readiness,
            reload=self.reload if enable_lifecycle else None,
            ownership=self.ownership,
            status=self.status,
        )


def _check_sharding(config: Config, shard: Shard) -> None:
    if shard.count > 1 and not config.has_orgs:
        raise ConfigError(
            [
                f"--shard.count is {shard.count}, but sharding splits the orgs of `orgs:` "
                "between replicas and this config lists none; list the orgs, or run one replica "
                "without --shard.count"
            ],
            config.source,
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
        **_started_fields(daemon),
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


def _started_fields(daemon: Daemon) -> dict[str, Any]:
    if not daemon.config.has_orgs:
        return {"api": daemon.config.genesys.api_base_url}
    return {"orgs": sorted(daemon.orgs), "shard": daemon.shard.index, "shards": daemon.shard.count}
