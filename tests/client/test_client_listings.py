"""The Architect flows listing as the client reads it: each flow's published version from
`publishedVersion`, whatever shape the field comes in."""

from __future__ import annotations

from typing import Any

from poller.catalog import FLOWS_PATH
from poller.genesys import LISTINGS
from tests.client.client_support import MakeClient
from tests.support.genesys import FakeGenesys, Reply

(FLOWS,) = [listing for listing in LISTINGS if listing.kind == "flows"]


def flow(ident: str) -> dict[str, Any]:
    """One entity of the listing as Architect sends it, without publishedVersion."""
    division = {"id": "d1", "name": "Home", "selfUri": "/api/v2/authorization/divisions/d1"}
    return {"id": ident, "name": f"Flow {ident}", "type": "INBOUNDCALL", "division": division}


async def test_published_version_is_the_id_then_the_name_else_empty(
    genesys: FakeGenesys, make_client: MakeClient
) -> None:
    """`publishedVersion.id` when it is a string; its `name` when the id is missing or not a
    string; "" when the field is absent, null, not an object, or holds neither."""
    cases: dict[str, dict[str, Any]] = {
        "f1": {"publishedVersion": {"id": "12.0", "name": "12.0", "selfUri": "/x"}},
        "f2": {"publishedVersion": {"id": 13, "name": "13.0"}},
        "f3": {"publishedVersion": {"name": "4.0"}},
        "f4": {},
        "f5": {"publishedVersion": None},
        "f6": {"publishedVersion": "12.0"},
        "f7": {"publishedVersion": {"id": None, "name": 7}},
        "f8": {"publishedVersion": {"id": "", "name": "8.0"}},
    }
    entities = [{**flow(ident), **fields} for ident, fields in cases.items()]
    genesys.script(FLOWS_PATH, Reply(200, {"entities": entities, "pageCount": 1}))
    client = make_client()
    listed = await client.listing(FLOWS, reserve=0)
    assert {e.id: e.published_version for e in listed} == {
        "f1": "12.0",
        "f2": "13.0",
        "f3": "4.0",
        "f4": "",
        "f5": "",
        "f6": "",
        "f7": "",
        "f8": "8.0",
    }
    assert {e.division_name for e in listed} == {"Home"}
