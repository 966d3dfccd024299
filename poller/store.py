"""The snapshot store: each query's latest families, swapped whole per poll, and the body
/metrics serves, assembled once per change.

A query's families arrive rendered (see digest.py); preparing a query's next state compresses
each family's text once into a gzip member, off the event loop. A commit swaps the state in; the
first scrape after it assembles the exposition: the families in name order, each a header
followed by the lines of every query that has it; the gzip form is the same pieces' gzip
members one after another. Assembling joins only what is ready: no text is rendered or
compressed at scrape time.

Count-like series that vanish from a response are held at 0 for ZERO_FILL_SECONDS after they
were last seen, since the API never zero-fills and a series that stops would otherwise read as
a frozen last value in PromQL's lookback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from poller.families import Family
from poller.render import RenderedFamily, Text, gzip_member, header, zero_lines

ZERO_FILL_SECONDS = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Exposition:
    """One version of the flow series: plain text as pieces in order, and its gzip form."""

    plain: tuple[Text, ...] = ()
    gzip: bytes = b""


@dataclass(slots=True)
class _Part:
    family: Family
    text: list[Text]
    packed: list[bytes]


@dataclass(slots=True)
class _Held:
    """What the store holds for one query: its families' parts and the zero-fill's memory."""

    parts: dict[str, _Part] = field(default_factory=dict)
    # zero_fill family -> {label block: when last present}, held zeros included.
    seen: dict[str, dict[str, float]] = field(default_factory=dict)
    series: int = 0


@dataclass(frozen=True, slots=True)
class Prepared:
    """A query's next state, computed off the event loop, waiting to be swapped in."""

    query: str
    state: _Held


class SnapshotStore:
    def __init__(self, zero_fill_seconds: float = ZERO_FILL_SECONDS) -> None:
        self._zero_fill_seconds = zero_fill_seconds
        self._queries: dict[str, _Held] = {}
        self._headers: dict[str, tuple[Family, bytes, bytes]] = {}
        # None after a change: assembled at the next exposition() (a scrape), so that many
        # queries committing between two scrapes (hundreds of orgs') cost one assembly, not one
        # each, which would grow with the square of the number of queries.
        self._exposition: Exposition | None = Exposition()

    def prepare(self, query: str, families: dict[str, RenderedFamily], now: float) -> Prepared:
        """A query's next state: the families' text and its gzip members, held zeros added.
        Touches nothing: meant for a thread while the loop serves scrapes (zlib compresses
        without the GIL), since only the query's own poll commits over its state."""
        state = _Held()
        for name, rendered in families.items():
            text = rendered.text
            state.parts[name] = _Part(rendered.family, [text], [gzip_member(text)])
            state.series += rendered.series
            if rendered.family.zero_fill:
                state.seen[name] = dict.fromkeys(rendered.blocks, now)
        old = self._queries.get(query)
        if old is not None:
            self._hold_vanished(old, state, now)
        return Prepared(query, state)

    def _hold_vanished(self, old: _Held, state: _Held, now: float) -> None:
        horizon = now - self._zero_fill_seconds
        for name, before in old.seen.items():
            seen = state.seen.setdefault(name, {})
            held = [block for block in before.keys() - seen.keys() if before[block] > horizon]
            if not held:
                continue
            held.sort()  # a stable order, whatever the set's
            seen.update((block, before[block]) for block in held)
            zeros = zero_lines(name, held)
            part = state.parts.get(name)
            if part is None:
                part = state.parts[name] = _Part(old.parts[name].family, [], [])
            part.text.append(zeros)
            part.packed.append(gzip_member(zeros))
            state.series += len(held)

    def commit(self, prepared: Prepared) -> int:
        """Swap a prepared state in; returns the query's series count."""
        self._queries[prepared.query] = prepared.state
        self._exposition = None
        return prepared.state.series

    def drop(self, query: str) -> None:
        """Forget a query's series (stale, or removed from the config)."""
        if self._queries.pop(query, None) is not None:
            self._exposition = None

    def has(self, query: str) -> bool:
        return query in self._queries

    def exposition(self) -> Exposition:
        """The flow series as of the last change, assembled once per change."""
        if self._exposition is None:
            self._exposition = self._assemble()
        return self._exposition

    def _assemble(self) -> Exposition:
        """Joins only the gzip members (a tenth of the text's size); plain text stays in the
        pieces it was rendered in."""
        by_family: dict[str, list[_Part]] = {}
        for state in self._queries.values():
            for name, part in state.parts.items():
                by_family.setdefault(name, []).append(part)
        plain: list[Text] = []
        packed: list[bytes] = []
        for name in sorted(by_family):
            parts = by_family[name]
            text, member = self._header(parts[0].family)
            plain.append(text)
            packed.append(member)
            for part in parts:
                plain.extend(part.text)
                packed.extend(part.packed)
        return Exposition(tuple(plain), b"".join(packed))

    def _header(self, family: Family) -> tuple[bytes, bytes]:
        cached = self._headers.get(family.name)
        if cached is None or cached[0] != family:
            text = header(family)
            cached = self._headers[family.name] = (family, text, gzip_member(text))
        return cached[1], cached[2]
