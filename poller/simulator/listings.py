"""The Architect listings: `GET /api/v2/flows`, `/flows/outcomes` and `/flows/milestones`, paged
as Genesys pages (`pageSize` default 25, `pageNumber` from 1, `total`, `pageCount`, relative
`nextUri` absent on the last page), sorted by id.

They list the same flows, outcomes and milestones the analytics data reports. The org's last
flow (of two or more) counts as deleted: it is listed only with `deleted=true`, which lists every
flow, deleted or not. Outcomes and milestones belong to the org's first division (Home). A rename
(`PUT /simulator/names`) changes what the listings say, not the recorded analytics data. Every
flow has a `publishedVersion` (`{"id": "12.0", "name": "12.0"}`): its own version, or the next
one from the moment a publish (`publishing`) takes effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from poller.simulator import contract
from poller.simulator.org import Entity, Org
from poller.simulator.replies import GenesysError

LISTING_KINDS = {
    contract.FLOWS_PATH: "flows",
    contract.OUTCOMES_PATH: "outcomes",
    contract.MILESTONES_PATH: "milestones",
}
LISTING_PERMISSIONS = {
    "flows": contract.FLOWS_PERMISSION,
    "outcomes": contract.OUTCOMES_PERMISSION,
    "milestones": contract.MILESTONES_PERMISSION,
}
MAX_PAGE_SIZE = 500


def deleted_flow_ids(org: Org) -> frozenset[str]:
    return frozenset({org.flows[-1].id}) if len(org.flows) > 1 else frozenset()


def entities(
    org: Org,
    kind: str,
    renames: Mapping[str, str],
    deleted: bool,
    published: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every entity of the listing, in id order; `published`: flow id -> its published
    version, when a publish changed it (default: each flow's own)."""
    published = published or {}
    home = org.divisions[0]
    divisions = {d.id: d for d in org.divisions}
    gone = deleted_flow_ids(org)
    out: list[dict[str, Any]] = []
    if kind == "flows":
        for f in org.flows:
            if f.id in gone and not deleted:
                continue
            division = divisions[f.division_id]
            out.append(
                {
                    "id": f.id,
                    "name": renames.get(f.id, f.name),
                    "type": f.type,
                    "division": _division(division),
                    "active": f.id not in gone,
                    "system": False,
                    "deleted": f.id in gone,
                    "publishedVersion": _version(published.get(f.id, f.version)),
                    "selfUri": f"{contract.FLOWS_PATH}/{f.id}",
                }
            )
    else:
        items: Sequence[Entity] = org.outcomes if kind == "outcomes" else org.milestones
        path = contract.OUTCOMES_PATH if kind == "outcomes" else contract.MILESTONES_PATH
        for e in items:
            out.append(
                {
                    "id": e.id,
                    "name": renames.get(e.id, e.name),
                    "division": _division(home),
                    "selfUri": f"{path}/{e.id}",
                }
            )
    out.sort(key=lambda item: str(item["id"]))
    return out


def _version(version: str) -> dict[str, str]:
    return {"id": version, "name": version}


def _division(division: Entity) -> dict[str, str]:
    return {
        "id": division.id,
        "name": division.name,
        "selfUri": f"/api/v2/authorization/divisions/{division.id}",
    }


def page(path: str, query: Mapping[str, str], items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of `items` as the listing envelope; 400 for a bad pageSize or pageNumber."""
    size = _positive(query, "pageSize", contract.LISTING_PAGE_SIZE)
    number = _positive(query, "pageNumber", 1)
    if size > MAX_PAGE_SIZE:
        raise GenesysError(400, "bad.request", f"pageSize must be at most {MAX_PAGE_SIZE}")
    total = len(items)
    count = (total + size - 1) // size
    body: dict[str, Any] = {
        "entities": items[(number - 1) * size : number * size],
        "pageSize": size,
        "pageNumber": number,
        "total": total,
        "pageCount": count,
    }
    keep = {k: v for k, v in query.items() if k not in ("pageSize", "pageNumber")}

    def uri(n: int) -> str:
        return f"{path}?{urlencode({**keep, 'pageSize': size, 'pageNumber': n})}"

    body["firstUri"] = uri(1)
    body["selfUri"] = uri(number)
    body["lastUri"] = uri(max(count, 1))
    if number < count:
        body["nextUri"] = uri(number + 1)
    if number > 1:
        body["previousUri"] = uri(number - 1)
    return body


def _positive(query: Mapping[str, str], key: str, default: int) -> int:
    raw = query.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise GenesysError(400, "bad.request", f"{key} must be a whole number of at least 1")
    return int(raw)
