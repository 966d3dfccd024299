"""Puts the stages together: config -> scheduler -> client -> normalize -> store -> server.

Also owns the lifecycle: the schedule's start, reloads (a `poller.reload` plan, carried out) and
a prompt, clean stop. Serving it over HTTP and the signals are `poller.serving`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from prometheus_client import disable_created_metrics

from poller import scope, statusdata
from poller.config.model import Config, Credentials, OrgConfig
from poller.digest import Digester
from poller.errors import ConfigError
from poller.logsetup import register_secret
from poller.orgpolling import OrgPolling
from poller.poll import QueryPoller
from poller.reload import SERVER_AT_RESTART, OrgSteps, ReloadPlan, plan_reload, server_changes
from poller.scheduler import Scheduler
from poller.selfmetrics import SelfMetrics
from poller.server import ServerState
from poller.shard import Shard
from poller.store import SnapshotStore
from poller.timing import Clocks

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
        disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide: selfmetrics.py
        self.shard = shard or Shard()
        _check_sharding(config, self.shard)
        self.config = config
        self._credentials = credentials
        self._loader = loader
        self._clocks = clocks or Clocks()
        self.metrics = metrics or SelfMetrics(org_label=scope.labelled(config))
        if self.metrics.org_label != scope.labelled(config):
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
        if scope.labelled(config):
            self.metrics.shard_info.labels(str(self.shard.index), str(self.shard.count)).set(1)
        owned = self._owned(config)
        credentials_by_org = self._resolve(owned)
        for org in owned:
            self._add_org(org, credentials_by_org[org.name])
        if not owned:  # only with `orgs:`: a config without has one org and one shard
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
        if self._scheduler is not None:
            org.start_push()

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
        return scope.labelled_fields(
            self.config,
            shard={"index": self.shard.index, "count": self.shard.count},
            orgs=sorted(self.orgs),
        )

    # -- reload ------------------------------------------------------------------------------

    async def reload(self) -> tuple[bool, str]:
        """Re-read the config; apply it if valid, keep the running one if not."""
        if self._loader is None:
            return False, "this daemon has no config file to reload"
        running = self.config.server
        try:
            new = self._loader()
            await self.apply(new)
        except ConfigError as err:
            self._mark_reload(ok=False, message=str(err))
            log.error("config_reload_failed", problems=err.problems, source=err.source)
            return False, str(err)
        message = "reloaded"
        waiting = server_changes(running, new.server)
        if waiting:
            # Whoever asked for the reload must not take the 200 for the new address.
            message += f", except {waiting}: {SERVER_AT_RESTART}; restart the poller to apply it"
        self._mark_reload(ok=True, message=message)
        log.info(
            "config_reloaded",
            source=new.source,
            queries=list(self.pollers),
            **scope.labelled_fields(new, orgs=sorted(self.orgs)),
        )
        return True, message

    async def apply(self, new: Config) -> None:
        """Switch to `new` as `plan_reload` says, or raise ConfigError before anything changes
        (a refused change, an unreadable credential)."""
        plan, credentials = self._plan(new)
        if plan.server_ignored:
            log.warning(
                "config_reload_server_ignored",
                reason=SERVER_AT_RESTART,
                changed=server_changes(self.config.server, new.server),
            )
        self.config = new
        configs = {org.name: org for org in new.org_list()}
        for name in plan.remove:
            await self._remove_org(self.orgs[name])
        for name, steps in plan.keep.items():
            await self._apply_org(self.orgs[name], configs[name], credentials[name], steps)
        for name in plan.add:
            org = self._add_org(configs[name], credentials[name])
            self._schedule_org(org)
            log.info("org_added", org=name, queries=[q.name for q in org.config.queries])
        for warning in plan.warnings:
            log.warning("config_warning", source=new.source, problem=warning)

    def _plan(self, new: Config) -> tuple[ReloadPlan, dict[str, Credentials]]:
        """The plan, and the OAuth client of each org `new` gives this replica. A refusal wins
        over an unreadable credential: no credential can make a refused change apply."""
        unreadable: ConfigError | None = None
        try:
            credentials = self._resolve(self._owned(new))
        except ConfigError as err:
            credentials, unreadable = {}, err
        changed = {
            name
            for name, given in credentials.items()
            if name in self.orgs and given != self.orgs[name].credentials
        }
        plan = plan_reload(self.config, new, shard=self.shard, credentials_changed=changed)
        if plan.refused:
            raise ConfigError(list(plan.refused), new.source)
        if unreadable is not None:
            raise unreadable
        return plan, credentials

    async def _apply_org(
        self, org: OrgPolling, new: OrgConfig, credentials: Credentials, steps: OrgSteps
    ) -> None:
        org.config = new
        cancel = {scope.key(org.name, name) for name in steps.cancel}
        if steps.cancel_names:
            cancel.add(org.names_job)
        await self._cancel_polls(cancel)
        if steps.rebuild_client:
            await org.replace_client(new, credentials, rate_changed=steps.rate_changed)
        for name in steps.remove:
            self._unschedule(scope.key(org.name, name))
            org.remove_poller(name)
        for name in (*steps.replace, *steps.add):
            poller = org.add_poller(name, previous=org.pollers.get(name))
            self._schedule(poller.key, poller.query.every)
        if steps.names_changed:
            org.names.configure(self.config.names)
            self._schedule_names(org)
        if steps.restart_push:
            await org.restart_push()

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
        """The status page's data (see poller.statusdata): the daemon's state only, at once."""
        return statusdata.collect(self, self._clocks.clock())

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
    if shard.count > 1 and not config.orgs:
        raise ConfigError(
            [
                f"--shard.count is {shard.count}, but sharding splits the orgs of `orgs:` "
                "between replicas and this config lists none; list the orgs, or run one replica "
                "without --shard.count"
            ],
            config.source,
        )
