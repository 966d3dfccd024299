"""The snapshot store: each query's latest series, swapped whole per poll, rendered once.

Scrapes read cached bytes (and cached gzip bytes), so a scrape costs the same however often
Prometheus comes. Only a publish or a drop re-renders, and only the query that changed.
"""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import dataclass, field

from poller.normalize import Family, Labels, Snapshot
from poller.render import render_families, render_series

# How long a count-like series that vanished from a response stays exported as 0.
ZERO_FILL_SECONDS = 24 * 3600.0
GZIP_LEVEL = 1  # metrics text compresses ~10x even at level 1, at a fraction of the CPU


def _compress(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


@dataclass(slots=True)
class _QueryState:
    values: dict[str, dict[Labels, float]] = field(default_factory=dict)
    # (family, labels) -> when it was last present, for zero_fill families only.
    last_seen: dict[tuple[str, Labels], float] = field(default_factory=dict)
    rendered: dict[str, str] = field(default_factory=dict)
    series: int = 0


@dataclass(frozen=True, slots=True)
class Prepared:
    """A query's next state, computed off the event loop, waiting to be swapped in."""

    query: str
    state: _QueryState
    families: dict[str, Family]


class SnapshotStore:
    def __init__(self, zero_fill_seconds: float = ZERO_FILL_SECONDS) -> None:
        self._zero_fill_seconds = zero_fill_seconds
        self._queries: dict[str, _QueryState] = {}
        self._families: dict[str, Family] = {}
        self._body: bytes | None = b""
        self._gzip: bytes | None = None
        self.version = 0

    def publish(self, query: str, snapshot: Snapshot, now: float) -> int:
        """Replace `query`'s series with `snapshot` (plus held zeros); returns its series count."""
        return self.commit(self.prepare(query, snapshot, now))

    def prepare(self, query: str, snapshot: Snapshot, now: float) -> Prepared:
        """The work of a publish, without touching the store: safe in a worker thread while
        the loop serves scrapes, since only this query's own poll commits over its state."""
        old = self._queries.get(query)
        state = _QueryState()
        values: dict[str, dict[Labels, float]] = {}
        families: dict[str, Family] = {}
        for name, series in snapshot.values.items():
            family = snapshot.families[name]
            families[name] = family
            values[name] = dict(series)
            if family.zero_fill:
                for labels in series:
                    state.last_seen[(name, labels)] = now
        if old is not None:
            horizon = now - self._zero_fill_seconds
            for key, seen in old.last_seen.items():
                if key in state.last_seen or seen <= horizon:
                    continue
                name, labels = key
                state.last_seen[key] = seen
                values.setdefault(name, {})[labels] = 0.0
        state.values = values
        state.rendered = {name: render_series(name, s) for name, s in values.items()}
        state.series = sum(len(s) for s in values.values())
        return Prepared(query, state, families)

    def commit(self, prepared: Prepared) -> int:
        """Swap a prepared state in, in one step; returns the query's series count."""
        self._families.update(prepared.families)
        self._queries[prepared.query] = prepared.state
        self._changed()
        return prepared.state.series

    def drop(self, query: str) -> None:
        """Forget a query's series (stale, or removed from the config)."""
        if self._queries.pop(query, None) is not None:
            self._changed()

    def has(self, query: str) -> bool:
        return query in self._queries

    def series_count(self, query: str) -> int:
        state = self._queries.get(query)
        return state.series if state else 0

    def value(self, family: str, labels: Labels) -> float | None:
        """One series' value, for tests and diagnostics."""
        for state in self._queries.values():
            v = state.values.get(family, {}).get(labels)
            if v is not None:
                return v
        return None

    def body(self) -> bytes:
        if self._body is None:
            self._body = render_families(
                self._families, (s.rendered for s in self._queries.values())
            )
        return self._body

    def gzipped(self) -> bytes:
        if self._gzip is None:
            self._gzip = _compress(self.body())
        return self._gzip

    async def refresh(self) -> None:
        """Render the body and its gzip in a worker thread, so a scrape after a large publish
        finds them ready instead of rendering on the event loop."""
        version = self.version
        families = dict(self._families)
        parts = [s.rendered for s in self._queries.values()]
        body = await asyncio.to_thread(render_families, families, parts)
        packed = await asyncio.to_thread(_compress, body)
        if self.version == version:  # nothing changed meanwhile
            self._body, self._gzip = body, packed

    def _changed(self) -> None:
        self._body = None
        self._gzip = None
        self.version += 1
