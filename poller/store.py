"""The snapshot store: each query's latest series, swapped whole per poll, rendered once.

A poll's families are rendered to bytes, and each compressed as a gzip member, while the poll
is prepared (in a worker thread). The exposition is then only assembled from those pieces: the
families in name order, each a header followed by the lines of every query that has it. Its
gzip form is the same pieces' gzip members, which gzip readers (Go's included) read as one
stream. So a scrape never renders or compresses, and a commit never waits for either.

Per series the store keeps only its rendered line, and for count-like families its label
block, to zero-fill it from should it vanish. Label tuples and float values are not kept:
`value()` reads a series back from its line.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from poller.normalize import Family, Labels, Snapshot
from poller.render import (
    GZIP_LEVEL,
    WHOLE_LIMIT,
    format_value,
    gzip_member,
    label_block,
    render_header,
    sample_line,
)

# How long a count-like series that vanished from a response stays exported as 0.
ZERO_FILL_SECONDS = 24 * 3600.0
# Sample lines are joined and encoded this many at a time, so a large family never holds
# its lines as separate strings all at once (30 MB of them at 100k series).
RENDER_BATCH = 2048
# Pieces smaller than this are joined before sending, so many small families do not cost a
# write each; larger ones are sent as they are, never copied.
COALESCE_BYTES = 64 * 1024


_EMPTY_GZIP = gzip_member(b"")


@dataclass(slots=True)
class _QueryState:
    # Family -> its sample lines (in chunks), and the same lines as one gzip member.
    rendered: dict[str, list[bytes]] = field(default_factory=dict)
    packed: dict[str, bytes] = field(default_factory=dict)
    # zero_fill family -> {label block: when last present}, held zeros included.
    seen: dict[str, dict[str, float]] = field(default_factory=dict)
    series: int = 0


@dataclass(frozen=True, slots=True)
class Prepared:
    """A query's next state, computed off the event loop, waiting to be swapped in."""

    query: str
    state: _QueryState
    families: dict[str, Family]


def _label_blocks(snapshot: Snapshot) -> dict[int, str]:
    """id(labels) -> label block, for every label tuple in the snapshot.

    A container's label tuple is shared by all its families, and normalize shares label pairs
    between containers: each is rendered once. Keyed by id() (the snapshot keeps every tuple
    alive meanwhile), since hashing a tuple of label pairs costs more than rendering saves."""
    blocks: dict[int, str] = {}
    pairs: dict[int, str] = {}
    for series in snapshot.values.values():
        for labels in series:
            if id(labels) in blocks:
                continue
            for pair in labels:
                if id(pair) not in pairs:
                    pairs[id(pair)] = label_block((pair,))
            blocks[id(labels)] = ",".join([pairs[id(pair)] for pair in labels])
    return blocks


def _render(name: str, series: Mapping[Labels, float], blocks: dict[int, str]) -> list[bytes]:
    """A family's sample lines, RENDER_BATCH lines to a chunk."""
    items = iter(series.items())
    start = f"{name}{{"
    top = WHOLE_LIMIT
    chunks: list[bytes] = []
    while True:
        # Whole numbers (most values) are formatted inline, as format_value would: the call
        # per sample was a third of the rendering time.
        lines = [
            f"{start}{blocks[id(labels)]}}} "
            f"{int(value) if value.is_integer() and -top < value < top else format_value(value)}\n"
            if labels
            else f"{name} {format_value(value)}\n"
            for labels, value in itertools.islice(items, RENDER_BATCH)
        ]
        if not lines:
            return chunks
        chunks.append("".join(lines).encode())


def _compress_all(chunks: list[bytes]) -> bytes:
    """The chunks as one gzip member, as gzip.compress(b"".join(chunks)) would make it."""
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return b"".join([*map(packer.compress, chunks), packer.flush()])


def _coalesce(pieces: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    small: list[bytes] = []
    size = 0
    for piece in pieces:
        if len(piece) >= COALESCE_BYTES:
            if small:
                out.append(b"".join(small))
                small, size = [], 0
            out.append(piece)
            continue
        small.append(piece)
        size += len(piece)
        if size >= COALESCE_BYTES:
            out.append(b"".join(small))
            small, size = [], 0
    if small:
        out.append(b"".join(small))
    return out


class SnapshotStore:
    def __init__(self, zero_fill_seconds: float = ZERO_FILL_SECONDS) -> None:
        self._zero_fill_seconds = zero_fill_seconds
        self._queries: dict[str, _QueryState] = {}
        self._families: dict[str, Family] = {}
        # Family name -> (family, header, header as a gzip member).
        self._headers: dict[str, tuple[Family, bytes, bytes]] = {}
        self._pieces: tuple[list[bytes], list[bytes]] | None = None  # (plain, gzip)
        self._body: bytes | None = None
        self._gzip: bytes | None = None
        self.version = 0

    def publish(self, query: str, snapshot: Snapshot, now: float) -> int:
        """Replace `query`'s series with `snapshot` (plus held zeros); returns its series count."""
        return self.commit(self.prepare(query, snapshot, now))

    def prepare(self, query: str, snapshot: Snapshot, now: float) -> Prepared:
        """The work of a publish, without touching the store: safe in a worker thread while
        the loop serves scrapes, since only this query's own poll commits over its state."""
        old = self._queries.get(query)
        blocks = _label_blocks(snapshot)
        state = _QueryState()
        families: dict[str, Family] = {}
        for name, series in snapshot.values.items():
            family = snapshot.families[name]
            families[name] = family
            state.rendered[name] = _render(name, series, blocks)
            state.series += len(series)
            if family.zero_fill:
                state.seen[name] = dict.fromkeys([blocks[id(labels)] for labels in series], now)
        if old is not None:
            for name, held in self._hold_vanished(old.seen, state.seen, now).items():
                zeros = "".join([sample_line(name, block, "0") for block in held])
                state.rendered.setdefault(name, []).append(zeros.encode())
                state.series += len(held)
        state.packed = {name: _compress_all(chunks) for name, chunks in state.rendered.items()}
        return Prepared(query, state, families)

    def _hold_vanished(
        self, old: dict[str, dict[str, float]], seen: dict[str, dict[str, float]], now: float
    ) -> dict[str, list[str]]:
        """Count-like series missing from this poll read 0 until ZERO_FILL after last seen:
        adds them to `seen` and returns their label blocks per family."""
        horizon = now - self._zero_fill_seconds
        held: dict[str, list[str]] = {}
        for name, before in old.items():
            fresh = seen.get(name)
            for block, at in before.items():
                if at <= horizon or (fresh is not None and block in fresh):
                    continue
                if fresh is None:
                    fresh = seen[name] = {}
                fresh[block] = at
                held.setdefault(name, []).append(block)
        return held

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
        """One series' value, read back from its rendered line; for tests and diagnostics."""
        prefix = sample_line(family, label_block(labels), "").rstrip("\n").encode()
        for state in self._queries.values():
            for text in state.rendered.get(family, ()):
                if text.startswith(prefix):
                    at = 0
                else:
                    at = text.find(b"\n" + prefix)
                    if at < 0:
                        continue
                    at += 1
                end = text.index(b"\n", at)
                return float(text[at + len(prefix) : end].decode())
        return None

    def parts(self) -> list[bytes]:
        """The exposition as the pieces to send, in order (joined: `body()`)."""
        return self._assembled()[0]

    def gzip_parts(self) -> list[bytes]:
        """The gzip form as gzip members to send in order (joined: `gzipped()`)."""
        return self._assembled()[1]

    def body(self) -> bytes:
        if self._body is None:
            self._body = b"".join(self.parts())
        return self._body

    def gzipped(self) -> bytes:
        if self._gzip is None:
            self._gzip = b"".join(self.gzip_parts()) or _EMPTY_GZIP
        return self._gzip

    def _assembled(self) -> tuple[list[bytes], list[bytes]]:
        if self._pieces is not None:
            return self._pieces
        plain: dict[str, list[bytes]] = {}
        packed: dict[str, list[bytes]] = {}
        for state in self._queries.values():
            for name, chunks in state.rendered.items():
                plain.setdefault(name, []).extend(chunks)
                packed.setdefault(name, []).append(state.packed[name])
        out_plain: list[bytes] = []
        out_packed: list[bytes] = []
        for name in sorted(plain):
            header, header_packed = self._header(name)
            out_plain.append(header)
            out_plain.extend(plain[name])
            out_packed.append(header_packed)
            out_packed.extend(packed[name])
        self._pieces = (_coalesce(out_plain), _coalesce(out_packed))
        return self._pieces

    def _header(self, name: str) -> tuple[bytes, bytes]:
        family = self._families[name]
        cached = self._headers.get(name)
        if cached is None or cached[0] != family:
            text = render_header(family).encode()
            cached = self._headers[name] = (family, text, gzip_member(text))
        return cached[1], cached[2]

    def _changed(self) -> None:
        self._pieces = None
        self._body = None
        self._gzip = None
        self.version += 1
