"""The names change detector: what a refresh of the Architect listings records, per kind, as
added, renamed or deleted since the refresh before (the status page's "changes"), newest first
and at most CHANGES_KEPT per kind. Driven through NamesRefresher.refresh and status() with a
fake client that serves the listings from dicts."""

from __future__ import annotations

from poller.config.model import NamesSettings
from poller.errors import ApiError
from poller.genesys import Entity, Listing
from poller.nameinfo import CHANGES_KEPT, NamesRefresher
from poller.selfmetrics import SelfMetrics
from poller.store import SnapshotStore

T1, T2, T3 = 1_779_000_000.0, 1_779_003_600.0, 1_779_007_200.0

Row = tuple[str, str, str, str, float]  # change, id, name, before, at


class Listings:
    """A ListingClient as the Architect API answers it: id -> name for the active flows,
    the deleted flows (asked with deleted=true), the outcomes and the milestones; a listing
    whose endpoint is in `failing` answers 500."""

    def __init__(self) -> None:
        self.flows: dict[str, str] = {}
        self.deleted_flows: dict[str, str] = {}
        self.outcomes: dict[str, str] = {}
        self.milestones: dict[str, str] = {}
        self.failing: set[str] = set()

    async def listing(
        self,
        listing: Listing,
        *,
        reserve: int,
        params: dict[str, str] | None = None,
        page_size: int = 100,
    ) -> list[Entity]:
        endpoint = listing.endpoint
        if endpoint in self.failing:
            raise ApiError("Internal error", endpoint=endpoint, status=500)
        if endpoint == "flows" and params == {"deleted": "true"}:
            source = self.deleted_flows
        else:
            source = {
                "flows": self.flows,
                "flow_outcomes": self.outcomes,
                "flow_milestones": self.milestones,
            }[endpoint]
        return [Entity(ident, name) for ident, name in source.items()]


def refresher() -> NamesRefresher:
    return NamesRefresher(NamesSettings(), SnapshotStore(), SelfMetrics(process=False))


async def refresh(names: NamesRefresher, listings: Listings, now: float) -> dict[str, bool]:
    return await names.refresh(listings, 0, now)


def changes(names: NamesRefresher, kind: str) -> list[Row]:
    """The changes the status page shows for listing `kind`, newest first."""
    (status,) = (s for s in names.status() if s.kind == kind)
    return [(c.change, c.id, c.name, c.before, c.at) for c in status.changes]


def entities(names: NamesRefresher, kind: str) -> int:
    (status,) = (s for s in names.status() if s.kind == kind)
    return status.entities


async def test_the_first_refresh_records_no_change() -> None:
    """The first listing read is the baseline: every entity is counted, none reported added."""
    listings, names = Listings(), refresher()
    listings.flows = {"f1": "Main", "f2": "Billing"}
    listings.deleted_flows = {"f9": "Old"}
    listings.outcomes = {"o1": "Paid"}
    listings.milestones = {"m1": "Menu"}
    assert await refresh(names, listings, T1) == {
        "flows": True,
        "outcomes": True,
        "milestones": True,
    }
    assert (entities(names, "flows"), entities(names, "outcomes")) == (3, 1)
    assert [changes(names, k) for k in ("flows", "outcomes", "milestones")] == [[], [], []]


async def test_flows_added_renamed_and_deleted_between_two_refreshes() -> None:
    """A new id is added, a new name for an id is a rename (with the name before), an id gone
    from both listings or moved to the deleted one is deleted; unchanged ones are not listed."""
    listings, names = Listings(), refresher()
    listings.flows = {"f1": "Main", "f2": "Billing", "f3": "Sales", "f4": "Support"}
    listings.deleted_flows = {"f9": "Old"}
    await refresh(names, listings, T1)
    listings.flows = {"f1": "Main", "f2": "Billing v2", "f5": "Claims"}
    listings.deleted_flows = {"f9": "Old", "f3": "Sales"}
    await refresh(names, listings, T2)
    assert changes(names, "flows") == [
        ("deleted", "f4", "Support", "", T2),
        ("added", "f5", "Claims", "", T2),
        ("deleted", "f3", "Sales", "", T2),
        ("renamed", "f2", "Billing v2", "Billing", T2),
    ]


async def test_a_flow_first_seen_deleted_is_recorded_deleted_not_added() -> None:
    """An id that first shows up in the deleted listing is deleted; one deleted and renamed
    at once is deleted, under its new name."""
    listings, names = Listings(), refresher()
    listings.flows = {"f1": "Main"}
    await refresh(names, listings, T1)
    listings.flows = {}
    listings.deleted_flows = {"f1": "Main (retired)", "f7": "Never seen"}
    await refresh(names, listings, T2)
    assert changes(names, "flows") == [
        ("deleted", "f7", "Never seen", "", T2),
        ("deleted", "f1", "Main (retired)", "", T2),
    ]


async def test_a_deleted_flow_is_deleted_once() -> None:
    """A deleted flow that stays deleted, or then leaves the deleted listing too, records
    nothing more; an unchanged listing records nothing at all."""
    listings, names = Listings(), refresher()
    listings.flows = {"f1": "Main"}
    listings.deleted_flows = {"f9": "Old"}
    await refresh(names, listings, T1)
    await refresh(names, listings, T2)
    assert changes(names, "flows") == []
    listings.deleted_flows = {}
    await refresh(names, listings, T3)
    assert changes(names, "flows") == []


async def test_outcomes_and_milestones_have_changes_of_their_own() -> None:
    """Each listing keeps its own changes: an outcome renamed and one gone, a milestone added,
    and the flows untouched."""
    listings, names = Listings(), refresher()
    listings.flows = {"f1": "Main"}
    listings.outcomes = {"o1": "Paid", "o2": "Refused"}
    listings.milestones = {"m1": "Menu"}
    await refresh(names, listings, T1)
    listings.outcomes = {"o1": "Paid in full"}
    listings.milestones = {"m1": "Menu", "m2": "Agent"}
    await refresh(names, listings, T2)
    assert changes(names, "outcomes") == [
        ("deleted", "o2", "Refused", "", T2),
        ("renamed", "o1", "Paid in full", "Paid", T2),
    ]
    assert changes(names, "milestones") == [("added", "m2", "Agent", "", T2)]
    assert changes(names, "flows") == []


async def test_an_empty_listing_deletes_every_entity_and_a_full_one_adds_them() -> None:
    """An empty first listing is a baseline like any other; from it, every entity is added;
    a listing that comes back empty deletes every entity, under its last name."""
    listings, names = Listings(), refresher()
    await refresh(names, listings, T1)
    assert (entities(names, "outcomes"), changes(names, "outcomes")) == (0, [])
    listings.outcomes = {"o1": "Paid", "o2": "Refused"}
    await refresh(names, listings, T2)
    assert changes(names, "outcomes") == [
        ("added", "o2", "Refused", "", T2),
        ("added", "o1", "Paid", "", T2),
    ]
    listings.outcomes = {}
    await refresh(names, listings, T3)
    assert changes(names, "outcomes") == [
        ("deleted", "o2", "Refused", "", T3),
        ("deleted", "o1", "Paid", "", T3),
        ("added", "o2", "Refused", "", T2),
        ("added", "o1", "Paid", "", T2),
    ]
    assert entities(names, "outcomes") == 0


async def test_only_the_newest_changes_are_kept() -> None:
    """Of many changes, only the newest CHANGES_KEPT per listing are kept, newest first; a
    later change pushes the oldest out."""
    listings, names = Listings(), refresher()
    await refresh(names, listings, T1)
    listings.milestones = {f"m{i:02}": f"Step {i}" for i in range(25)}
    await refresh(names, listings, T2)
    assert CHANGES_KEPT < 25
    newest = [("added", f"m{i:02}", f"Step {i}", "", T2) for i in reversed(range(25))]
    assert changes(names, "milestones") == newest[:CHANGES_KEPT]
    listings.milestones["m00"] = "First step"
    await refresh(names, listings, T3)
    assert changes(names, "milestones") == [
        ("renamed", "m00", "First step", "Step 0", T3),
        *newest[: CHANGES_KEPT - 1],
    ]


async def test_changes_accumulate_over_refreshes_with_their_times() -> None:
    """Each refresh adds its changes in front of the earlier ones, each with its own time."""
    listings, names = Listings(), refresher()
    listings.flows = {"f1": "A"}
    await refresh(names, listings, T1)
    listings.flows = {"f1": "B"}
    await refresh(names, listings, T2)
    listings.flows = {"f1": "C"}
    await refresh(names, listings, T3)
    assert changes(names, "flows") == [
        ("renamed", "f1", "C", "B", T3),
        ("renamed", "f1", "B", "A", T2),
    ]


async def test_a_failed_refresh_records_nothing_and_the_next_compares_with_the_last_read() -> None:
    """A listing that fails records no change; the next good read is compared with the last
    good one, so a rename made meanwhile shows once, at the refresh that saw it."""
    listings, names = Listings(), refresher()
    listings.flows = {"f1": "Main"}
    await refresh(names, listings, T1)
    listings.flows = {"f1": "Main v2"}
    listings.failing = {"flows"}
    assert (await refresh(names, listings, T2))["flows"] is False
    assert changes(names, "flows") == []
    listings.failing = set()
    await refresh(names, listings, T3)
    assert changes(names, "flows") == [("renamed", "f1", "Main v2", "Main", T3)]
