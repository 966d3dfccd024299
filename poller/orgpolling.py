"""One org's polling: its client (token, request budget, 429 pause), its query pollers and its
names refresher.

Orgs share only the store, the worker process and the self-metrics registry, none of which
waits on Genesys: one org's failures, throttling or bad credentials never slow or fail another's
polls.
"""

from __future__ import annotations

from collections.abc import Iterable

from poller import scope
from poller.config.model import Credentials, NamesSettings, OrgConfig
from poller.digest import Digester
from poller.genesys import GenesysClient
from poller.genesys.budget import RequestBudget
from poller.nameinfo import NamesRefresher, query_reserve
from poller.poll import QueryPoller
from poller.push.feed import PushFeeder
from poller.push.session import PushSession, PushStatus
from poller.selfmetrics import SelfMetrics
from poller.store import SnapshotStore
from poller.timing import Clocks

NAMES = "_names"  # the names refresh's job name within an org; query names cannot start with _


class OrgPolling:
    def __init__(
        self,
        org: OrgConfig,
        credentials: Credentials,
        names: NamesSettings,
        *,
        store: SnapshotStore,
        digester: Digester,
        metrics: SelfMetrics,
        clocks: Clocks,
    ) -> None:
        self.config = org
        self.name = org.name
        self.credentials = credentials
        self._store = store
        self._digester = digester
        self._clocks = clocks
        self.metrics = metrics.for_org(org.name)
        self.client = self.new_client(org, credentials)
        # Push (when on): the feed of the fed queries' ledgers, and the session of channels.
        # Built before the pollers, which publish through the feed; started with the schedule.
        self.push: PushFeeder | None = None
        self.session: PushSession | None = None
        self.push = self._new_feeder()
        self.pollers: dict[str, QueryPoller] = {}
        for query in org.queries:
            self.add_poller(query.name)
        self.names = NamesRefresher(names, store, self.metrics, org=org.name)
        self._show_info()

    @property
    def names_job(self) -> str:
        return scope.key(self.name, NAMES)

    def new_client(
        self, org: OrgConfig, credentials: Credentials, budget: RequestBudget | None = None
    ) -> GenesysClient:
        self.metrics.api_budget.labels().set(org.genesys.requests_per_minute)
        return GenesysClient(
            org.genesys, credentials, self.metrics, clocks=self._clocks, budget=budget
        )

    def add_poller(self, name: str, previous: QueryPoller | None = None) -> QueryPoller:
        (query,) = [q for q in self.config.queries if q.name == name]
        poller = QueryPoller(
            query,
            self.client,
            self._store,
            self.metrics,
            self._digester,
            clocks=self._clocks,
            org=self.name,
            push=self.push,
        )
        self.pollers[name] = poller
        settling = poller.settling if query.mode == "counter" else None
        if previous is None:
            self.metrics.add_query(name, query.every, settling, series_limit=query.max_series)
        else:
            # A changed query keeps serving its old series, and its up and last-success gauges,
            # until its next poll replaces them.
            poller.state = previous.state
            self.metrics.show_settings(name, query.every, query.max_series)
            self.metrics.show_settling(name, settling)
        return poller

    def remove_poller(self, name: str) -> None:
        poller = self.pollers.pop(name)
        self._store.drop(poller.key)
        self.metrics.remove_query(name)

    async def refresh_names(self, now: float) -> dict[str, bool]:
        done = await self.names.refresh(self.client, query_reserve(self.config), now)
        self.sync_flows()
        return done

    # -- push ----------------------------------------------------------------------------------

    def _new_feeder(self, known: Iterable[str] = ()) -> PushFeeder | None:
        settings = self.config.genesys.push
        if not settings.enabled:
            return None
        return PushFeeder(
            settings,
            self.config.queries,
            self.metrics,
            names=lambda: self.names.flows,
            on_flows=self.sync_flows,
            org=self.name,
            sleep=self._clocks.sleep,
            known=known,
        )

    def start_push(self) -> None:
        """Open the channels (push on): called once the schedule runs, not by `once`."""
        if self.push is None or self.session is not None:
            return
        self.session = PushSession(
            self.client,
            self.config.genesys.push,
            self.metrics,
            self.push.on_aggregates,
            clocks=self._clocks,
        )
        self.push.start(connected=self._push_connected)
        self.session.set_flows(self.push.flow_ids())
        self.session.start()

    def _push_connected(self) -> bool:
        return self.session is not None and self.session.status().state == "connected"

    def sync_flows(self) -> None:
        """Subscribe the flows the names listing and the fed queries' polls know now."""
        if self.session is not None and self.push is not None:
            self.session.set_flows(self.push.flow_ids())

    async def stop_push(self) -> None:
        if self.session is not None:
            await self.session.stop()
            self.session = None
        if self.push is not None:
            await self.push.close()

    async def restart_push(self) -> None:
        """After a reload (new client, push settings or queries): push starts anew, every
        poller on the new feed. The figures come back exact at each query's next poll."""
        running = self.session is not None
        known = self.push.flow_ids() if self.push is not None else set()
        await self.stop_push()
        self.push = self._new_feeder(known)
        for poller in self.pollers.values():
            poller.attach_push(self.push)
        if running:
            self.start_push()

    def push_status(self) -> PushStatus | None:
        return self.session.status() if self.session is not None else None

    async def replace_client(
        self, org: OrgConfig, credentials: Credentials, *, rate_changed: bool
    ) -> None:
        """New hosts, limits or credentials. The budget's record of recent requests and any 429
        pause outlive it: the API's limit does not reset because our settings changed."""
        keep = self.client.budget
        old = self.client
        self.client = self.new_client(org, credentials, None if rate_changed else keep)
        if rate_changed:
            self.client.budget.inherit(keep)
        self.credentials = credentials
        for poller in self.pollers.values():
            poller.client = self.client
        self._show_info()
        await old.close()

    def _show_info(self) -> None:
        """org_info{org, genesys_region}: one series, for the org's region now."""
        if self.metrics.org_label:
            self.metrics.org_info.remove_by_labels({"org": self.name})
            self.metrics.org_info.labels(self.name, self.config.genesys.region).set(1)

    async def close(self) -> None:
        await self.stop_push()
        await self.client.close()

    def forget(self) -> None:
        """The org is gone from this replica (a reload removed it): drop its series."""
        for name in list(self.pollers):
            self.remove_poller(name)
        self.names.configure(NamesSettings(enabled=False))
        self.metrics.remove_org(self.name)
