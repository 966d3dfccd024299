"""The Architect listings (`GET /api/v2/flows`, `/flows/outcomes`, `/flows/milestones`): one
table of what each is and feeds, and every page of one, as plain entities.

A listing is paged: `pageSize`, `pageNumber` from 1, and `pageCount` in every answer; the last
page has no `nextUri`. Pages are read in order until `pageCount` (a listing that grows while it
is read can only add pages at the end; sorting by id keeps the order stable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from poller.catalog import (
    FLOW_MILESTONES_PATH,
    FLOW_MILESTONES_PERMISSION,
    FLOW_OUTCOMES_PATH,
    FLOW_OUTCOMES_PERMISSION,
    FLOWS_PATH,
    FLOWS_PERMISSION,
)
from poller.errors import BadResponseError
from poller.genesys.http import ListingEndpoint, Reply
from poller.genesys.transport import QueryTransport

PAGE_SIZE: Final = 100  # a common Genesys maximum; the spec gives none for these listings
MAX_PAGES: Final = 1000  # 100k entities: a listing that never ends is a bug, not an org
# Deleted entities are left out of a listing unless it is asked for them.
DELETED: Final = {"deleted": "true"}
NOTE: Final = (
    "Always 1. From the Architect listing, refreshed every names.every (not on scrape); join it "
    "on its id label with group_left to add names to the flow families."
)


@dataclass(frozen=True, slots=True)
class Listing:
    """One Architect listing: where it is, what it takes to read it, and the `_info` family
    it feeds."""

    kind: str  # the names_up kind label, and the store entry names:<kind>
    endpoint: ListingEndpoint  # the endpoint label of the API self-metrics
    path: str  # on the API host
    permission: str  # what the OAuth client's role needs to read it
    hides_deleted: bool  # read a second time with DELETED for the deleted entities
    family: str
    help: str
    id_label: str
    name_label: str

    @property
    def reads(self) -> tuple[str, ...]:
        """The path and query of each read a refresh makes, for check-config."""
        if not self.hides_deleted:
            return (self.path,)
        return (self.path, f"{self.path}?{urlencode(DELETED)}")


LISTINGS: Final = (
    Listing(
        "flows",
        "flows",
        FLOWS_PATH,
        FLOWS_PERMISSION,
        True,
        "genesyscloud_flow_info",
        "A flow's name, type, division and published version (empty when the listing gives "
        'none); deleted="true" for a flow deleted since. ' + NOTE,
        "flow_id",
        "flow_name",
    ),
    Listing(
        "outcomes",
        "flow_outcomes",
        FLOW_OUTCOMES_PATH,
        FLOW_OUTCOMES_PERMISSION,
        False,
        "genesyscloud_flow_outcome_info",
        "A flow outcome's name. " + NOTE,
        "flow_outcome_id",
        "flow_outcome_name",
    ),
    Listing(
        "milestones",
        "flow_milestones",
        FLOW_MILESTONES_PATH,
        FLOW_MILESTONES_PERMISSION,
        False,
        "genesyscloud_flow_milestone_info",
        "A flow milestone's name. " + NOTE,
        "flow_milestone_id",
        "flow_milestone_name",
    ),
)


@dataclass(frozen=True, slots=True)
class Entity:
    """One flow, outcome or milestone: what its `_info` series says about it."""

    id: str
    name: str
    type: str = ""  # flows only
    division_id: str = ""
    division_name: str = ""
    deleted: bool = False
    published_version: str = ""  # flows only: the version Architect publishes, such as "12.0"


async def list_all(
    transport: QueryTransport,
    listing: Listing,
    *,
    reserve: int,
    params: dict[str, str] | None = None,
    page_size: int = PAGE_SIZE,
) -> list[Entity]:
    """Every entity of `listing`, page by page, each page through the shared budget behind the
    queries (see QueryTransport.get)."""
    out: list[Entity] = []
    page = 1
    while True:
        query = {**(params or {}), "pageSize": str(page_size), "pageNumber": str(page)}
        query.update(sortBy="id", sortOrder="asc")
        reply = await transport.get(
            listing.endpoint,
            f"{listing.path}?{urlencode(query)}",
            reserve,
            permission=listing.permission,
        )
        entities, page_count = _page(listing.endpoint, page, reply)
        out.extend(entities)
        if page >= page_count or page >= MAX_PAGES:
            return out
        page += 1


def _page(endpoint: ListingEndpoint, page: int, reply: Reply) -> tuple[list[Entity], int]:
    where = f"page {page}"

    def bad(problem: str) -> BadResponseError:
        return BadResponseError(
            f"{where} of the listing {problem}",
            endpoint=endpoint,
            status=reply.status,
            context_id=reply.correlation_id,
        )

    try:
        body = json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        raise bad("is not JSON") from None
    if not isinstance(body, dict):
        raise bad("is not a JSON object")
    raw = body.get("entities", [])
    if not isinstance(raw, list):
        raise bad("has `entities` that is not a list")
    count = body.get("pageCount", page)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise bad(f"has `pageCount` {count!r}, not a whole number")
    entities = []
    for i, item in enumerate(raw):
        entity = _entity(item)
        if entity is None:
            raise bad(f"has entities[{i}] without a string id and name")
        entities.append(entity)
    return entities, count


def _entity(item: Any) -> Entity | None:
    if not isinstance(item, dict):
        return None
    ident, name = item.get("id"), item.get("name")
    if not isinstance(ident, str) or not isinstance(name, str) or not ident:
        return None
    division = item.get("division")
    division_id = division_name = ""
    if isinstance(division, dict):
        division_id = _text(division.get("id"))
        division_name = _text(division.get("name"))
    return Entity(
        id=ident,
        name=name,
        type=_text(item.get("type")),
        division_id=division_id,
        division_name=division_name,
        deleted=item.get("deleted") is True,
        published_version=_version(item.get("publishedVersion")),
    )


def _version(published: object) -> str:
    """A flow's `publishedVersion` (a FlowVersion): its `id`, or its `name` when the id is not
    a string; "" when there is none (a flow never published, an outcome)."""
    if not isinstance(published, dict):
        return ""
    for key in ("id", "name"):
        value = published.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
