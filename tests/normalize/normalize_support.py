"""Helpers shared by the normalizer, renderer and store tests: golden cases, rendering, promtool."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from poller import scope
from poller.config.model import QueryType
from poller.digest import DigestJob, digest
from poller.store import SnapshotStore

GOLDEN_DIR = Path(__file__).parent / "golden"


@dataclass(frozen=True)
class GoldenCase:
    name: str
    kind: QueryType
    query: str
    response: bytes
    expected_path: Path
    now: float  # when the poll was answered (query.json "now", ISO-8601; else the epoch)
    org: str = ""  # query.json "org": the org of `orgs:` the query belongs to


def golden_cases() -> list[GoldenCase]:
    cases = []
    for case_dir in sorted(p for p in GOLDEN_DIR.iterdir() if p.is_dir()):
        meta = json.loads((case_dir / "query.json").read_text(encoding="utf-8"))
        response = (case_dir / "response.json").read_bytes()
        now = datetime.fromisoformat(meta["now"]).timestamp() if "now" in meta else 0.0
        cases.append(
            GoldenCase(
                case_dir.name,
                meta["kind"],
                meta["query"],
                response,
                case_dir / "expected.prom",
                now,
                meta.get("org", ""),
            )
        )
    return cases


def encoded(response: object) -> bytes:
    return response if isinstance(response, bytes) else json.dumps(response).encode()


def publish(
    store: SnapshotStore, kind: QueryType, query: str, response: object, now: float, org: str = ""
) -> int:
    """One successful poll of `query` answered with `response` (a JSON value or its bytes)."""
    families = digest(DigestJob(kind, query, encoded(response), now, None, org))
    return store.commit(store.prepare(scope.key(org, query), families, now))


def body(store: SnapshotStore) -> bytes:
    """The plain /metrics text of the flow series."""
    return b"".join(store.exposition().plain)


def exposition(
    kind: QueryType, query: str, response: object, now: float = 0.0, org: str = ""
) -> bytes:
    """What /metrics would serve after one successful poll of `query` (of org `org`)."""
    store = SnapshotStore()
    publish(store, kind, query, response, now, org)
    return body(store)
