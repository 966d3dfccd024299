"""Prometheus text exposition (format 0.0.4) and its gzip form: the one home of the format.

Hand-written instead of going through prometheus-client's metric objects: rendering 100k series
through per-sample objects costs tens of times more, and the format is small and stable.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from poller.families import Family
from poller.normalize import Labels, Snapshot

GZIP_LEVEL = 1  # metrics text compresses ~10x even at level 1, at a fraction of the CPU
# Whole numbers below this are written as integers ("12"); from here on repr's form ("1e+15").
WHOLE_LIMIT = 1e15

_LABEL_ESCAPES = str.maketrans({"\\": r"\\", '"': r"\"", "\n": r"\n"})
_HELP_ESCAPES = str.maketrans({"\\": r"\\", "\n": r"\n"})


# A family's sample lines: bytes, or a read-only view of the mapping the worker's reply was read
# into (see digest.py).
Text = bytes | memoryview


@dataclass(frozen=True, slots=True)
class RenderedFamily:
    """One family of one query's poll, rendered: its sample lines, the one form it has until
    the store compresses them for gzip scrapes."""

    family: Family
    text: Text  # the sample lines
    series: int
    # The label blocks of its series, for a family whose vanished series are held at 0.
    blocks: tuple[str, ...]


def gzip_member(text: Text) -> bytes:
    """`text` as one gzip member. Members sent one after another read as one gzip stream
    (RFC 1952), so a body is compressed a family at a time and never again. zlib lets go of the
    GIL while it compresses: in a thread, this runs beside the event loop."""
    return gzip.compress(text, compresslevel=GZIP_LEVEL, mtime=0)


def escape_label_value(value: str) -> str:
    # Checking first is ~10x faster than translate() for the usual value that needs nothing.
    if "\\" in value or '"' in value or "\n" in value:
        return value.translate(_LABEL_ESCAPES)
    return value


def format_value(value: float) -> str:
    if value.is_integer():  # finite: NaN and infinities are not integers
        return str(int(value)) if abs(value) < WHOLE_LIMIT else repr(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def header(family: Family) -> bytes:
    help_text = family.help.translate(_HELP_ESCAPES)
    return f"# HELP {family.name} {help_text}\n# TYPE {family.name} {family.type}\n".encode()


def label_block(labels: Labels) -> str:
    """What goes between a sample's braces: `name="value",...` (empty without labels).

    Distinct label sets give distinct blocks, so a block can stand for its series."""
    return ",".join([f'{k}="{escape_label_value(v)}"' for k, v in labels])


def sample_line(name: str, block: str, value: float) -> str:
    if block:
        return f"{name}{{{block}}} {format_value(value)}\n"
    return f"{name} {format_value(value)}\n"


def zero_lines(name: str, blocks: Iterable[str]) -> bytes:
    """Sample lines reading 0 for these label blocks (series held after they vanished)."""
    return "".join([sample_line(name, block, 0.0) for block in blocks]).encode()


def render_snapshot(snapshot: Snapshot) -> dict[str, RenderedFamily]:
    """Every family of a snapshot, rendered."""
    # A result's label tuple is shared by all its families: each block is built once.
    blocks: dict[Labels, str] = {}
    out: dict[str, RenderedFamily] = {}
    for name, series in snapshot.values.items():
        family = snapshot.families[name]
        text = _lines(name, series, blocks)
        kept = tuple([blocks[labels] for labels in series]) if family.zero_fill else ()
        out[name] = RenderedFamily(family, text, len(series), kept)
    for name, samples in snapshot.samples.items():
        # Histograms and summaries: their samples carry suffixes; none is held at 0.
        text = "".join(
            [
                sample_line(name + suffix, _block(labels, blocks), value)
                for suffix, labels, value in samples
            ]
        ).encode()
        out[name] = RenderedFamily(snapshot.families[name], text, len(samples), ())
    return out


def _block(labels: Labels, blocks: dict[Labels, str]) -> str:
    """`labels`' label block, built once per snapshot."""
    block = blocks.get(labels)
    if block is None:
        block = blocks[labels] = label_block(labels)
    return block


def _lines(name: str, series: Mapping[Labels, float], blocks: dict[Labels, str]) -> bytes:
    return "".join(
        [sample_line(name, _block(labels, blocks), value) for labels, value in series.items()]
    ).encode()
