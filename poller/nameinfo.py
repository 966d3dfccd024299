"""Names for the ids analytics reports: the `_info` families, from the Architect listings.

Each refresh reads every page of the flows (active, then deleted), outcomes and milestones
listings, and publishes one family per kind, each series with value 1, as its own entry in the
store (`names:<kind>`), swapped whole: a renamed entity's old series is gone at the next refresh,
and no id ever has two. A listing that fails keeps its last good names until they are older than
KEEP_PERIODS refresh periods; a 403 says once which permission the OAuth client lacks. Queries
and readiness never depend on names.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import structlog

from poller import scope
from poller.config.model import Config, NamesSettings, OrgConfig
from poller.errors import ApiError
from poller.families import Family
from poller.genesys import LISTINGS, Entity, Listing, ListingClient
from poller.genesys.budget import SPAN
from poller.genesys.listings import DELETED, PAGE_SIZE
from poller.normalize import Labels, Snapshot
from poller.render import render_snapshot
from poller.selfmetrics import SelfMetrics
from poller.store import SnapshotStore

log = structlog.get_logger("poller.nameinfo")

KEEP_PERIODS: Final = 3  # a failing listing's names are kept this many refresh periods


def query_reserve(config: Config | OrgConfig) -> int:
    """Budget places a minute kept for the queries: the most requests their schedules can send
    in any window the budget counts."""
    return sum(int(SPAN // q.every) + 1 for q in config.queries)


def store_key(listing: Listing, org: str = "") -> str:
    return scope.key(org, f"names:{listing.kind}")


def labels_of(listing: Listing, entity: Entity, org: str = "") -> Labels:
    named = ((listing.id_label, entity.id), (listing.name_label, entity.name))
    if listing.kind != "flows":
        return (*scope.org_labels(org), *named)
    return (
        *scope.org_labels(org),
        *named,
        ("flow_type", entity.type),
        ("division_id", entity.division_id),
        ("division_name", entity.division_name),
        ("deleted", "true" if entity.deleted else "false"),
        ("published_version", entity.published_version),
    )


CHANGES_KEPT: Final = 10  # name changes remembered per kind, for the status page


@dataclass(frozen=True, slots=True)
class Change:
    """An entity a refresh found new, renamed or deleted since the one before."""

    at: float
    id: str
    name: str
    change: str  # added, renamed (from `before`), deleted
    before: str = ""


@dataclass(slots=True)
class _State:
    ok_at: float | None = None  # when the names in the store were read
    failing: bool = False
    error: str = ""  # the last failure, in words
    names: dict[str, tuple[str, bool]] | None = None  # id -> (name, deleted), last read
    changes: deque[Change] = field(default_factory=lambda: deque(maxlen=CHANGES_KEPT))


@dataclass(frozen=True, slots=True)
class KindStatus:
    """What the status page shows of one listing."""

    kind: str
    state: str  # ok, failing, waiting (no refresh yet)
    entities: int
    last_success: float | None
    error: str | None  # None unless failing
    changes: tuple[Change, ...]  # newest first


class NamesRefresher:
    def __init__(
        self,
        settings: NamesSettings,
        store: SnapshotStore,
        metrics: SelfMetrics,
        *,
        page_size: int = PAGE_SIZE,
        org: str = "",
    ) -> None:
        """`metrics` is the org's view (SelfMetrics.for_org)."""
        self.settings = settings
        self.org = org
        self._store = store
        self._metrics = metrics
        self.page_size = page_size  # entities per listing page
        self._states = {listing.kind: _State() for listing in LISTINGS}
        # Flow id -> (name, type), from the last good read of the flows listing: what push
        # messages, which carry ids only, need for a query grouped by flowName or flowType.
        self.flows: dict[str, tuple[str, str]] = {}
        if settings.enabled:
            self._show()

    def _show(self) -> None:
        for listing in LISTINGS:
            if self._states[listing.kind].ok_at is None:
                self._metrics.names_up.labels(listing.kind).set(0)
        self._metrics.changed()

    def configure(self, settings: NamesSettings) -> None:
        """A reload: `off` drops every info series and the names_up series."""
        self.settings = settings
        if settings.enabled:
            self._show()
            return
        for listing in LISTINGS:
            self._store.drop(store_key(listing, self.org))
            self._states[listing.kind] = _State()
            self._metrics.names_up.remove(listing.kind)
            self._metrics.names_last_success.remove(listing.kind)
        self._metrics.changed()

    async def refresh(self, client: ListingClient, reserve: int, now: float) -> dict[str, bool]:
        """Read every listing once; returns {kind: succeeded}."""
        out: dict[str, bool] = {}
        for listing in LISTINGS:
            try:
                entities = await self._read(client, listing, reserve)
            except ApiError as err:
                self._failed(listing, err, now)
                out[listing.kind] = False
            else:
                self._publish(listing, entities, now)
                out[listing.kind] = True
        self._metrics.changed()
        return out

    async def _read(self, client: ListingClient, listing: Listing, reserve: int) -> list[Entity]:
        size = self.page_size
        if not listing.hides_deleted:
            return await client.listing(listing, reserve=reserve, page_size=size)
        active = await client.listing(listing, reserve=reserve, page_size=size)
        # Whether `deleted=true` lists only the deleted entities or all of them, one missing
        # from the active listing is a deleted one.
        gone = await client.listing(listing, reserve=reserve, page_size=size, params=DELETED)
        merged = {e.id: e for e in active}
        for e in gone:
            if e.id not in merged:
                merged[e.id] = dataclasses.replace(e, deleted=True)
        return list(merged.values())

    def status(self) -> list[KindStatus]:
        """Each listing's state, for the status page; [] with names off."""
        if not self.settings.enabled:
            return []
        out = []
        for listing in LISTINGS:
            state = self._states[listing.kind]
            word = "failing" if state.failing else "ok" if state.ok_at is not None else "waiting"
            out.append(
                KindStatus(
                    listing.kind,
                    word,
                    len(state.names or {}),
                    state.ok_at,
                    state.error if state.failing else None,
                    tuple(reversed(state.changes)),
                )
            )
        return out

    def _publish(self, listing: Listing, entities: Sequence[Entity], now: float) -> None:
        state = self._states[listing.kind]
        series: dict[Labels, float] = {}
        read: dict[str, tuple[str, bool]] = {}
        for entity in sorted(entities, key=lambda e: e.id):
            if entity.id not in read:  # one series per id, whatever the listing repeats
                read[entity.id] = (entity.name, entity.deleted)
                series[labels_of(listing, entity, self.org)] = 1.0
        if listing.kind == "flows":
            self.flows = {e.id: (e.name, e.type) for e in entities}
        if state.names is not None:
            state.changes.extend(_changes(state.names, read, now))
        state.names = read
        family = Family(listing.family, listing.help, "max", zero_fill=False)
        rendered = render_snapshot(Snapshot({listing.family: family}, {listing.family: series}))
        self._store.commit(self._store.prepare(store_key(listing, self.org), rendered, now))
        if state.failing:
            log.info(
                "names_recovered",
                **scope.log_fields(self.org),
                kind=listing.kind,
                entities=len(series),
            )
        state.ok_at, state.failing = now, False
        self._metrics.names_up.labels(listing.kind).set(1)
        self._metrics.names_last_success.labels(listing.kind).set(now)

    def _failed(self, listing: Listing, err: ApiError, now: float) -> None:
        state = self._states[listing.kind]
        state.error = err.message
        self._metrics.names_up.labels(listing.kind).set(0)
        fields = {
            **scope.log_fields(self.org),
            "kind": listing.kind,
            "endpoint": err.endpoint,
            "error": err.message,
            "status": err.status,
            "code": err.code,
            "context_id": err.context_id,
        }
        if state.failing:
            log.debug("names_failed_again", **fields)
        elif err.status == 403:
            log.warning("names_forbidden", permission=listing.permission, **fields)
        else:
            log.warning("names_failing", **fields)
        state.failing = True
        keep = KEEP_PERIODS * self.settings.every
        if state.ok_at is not None and now - state.ok_at > keep:
            self._store.drop(store_key(listing, self.org))
            state.ok_at = None
            log.warning(
                "names_dropped_stale",
                **scope.log_fields(self.org),
                kind=listing.kind,
                kept_seconds=keep,
            )


def _changes(
    before: dict[str, tuple[str, bool]], after: dict[str, tuple[str, bool]], now: float
) -> list[Change]:
    """What changed between two reads of a listing, by id."""
    out = []
    for ident, (name, deleted) in after.items():
        old = before.get(ident)
        if old is None:
            out.append(Change(now, ident, name, "deleted" if deleted else "added"))
        elif deleted and not old[1]:
            out.append(Change(now, ident, name, "deleted"))
        elif name != old[0]:
            out.append(Change(now, ident, name, "renamed", old[0]))
    out.extend(
        Change(now, ident, name, "deleted")
        for ident, (name, deleted) in before.items()
        if ident not in after and not deleted
    )
    return out
