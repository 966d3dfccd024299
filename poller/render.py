"""Prometheus text exposition (format 0.0.4) for snapshot series. Pure.

Hand-written instead of going through prometheus-client's metric objects: rendering 100k series
through per-sample objects costs several times more, and the format is small and stable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from poller.normalize import Family, Labels

_LABEL_ESCAPES = str.maketrans({"\\": r"\\", '"': r"\"", "\n": r"\n"})
_HELP_ESCAPES = str.maketrans({"\\": r"\\", "\n": r"\n"})


def escape_label_value(value: str) -> str:
    return value.translate(_LABEL_ESCAPES)


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render_header(family: Family) -> str:
    help_text = family.help.translate(_HELP_ESCAPES)
    return f"# HELP {family.name} {help_text}\n# TYPE {family.name} gauge\n"


def render_series(name: str, series: Mapping[Labels, float]) -> str:
    """The sample lines of one family (no header)."""
    lines: list[str] = []
    append = lines.append
    for labels, value in series.items():
        if labels:
            inner = ",".join(f'{k}="{v.translate(_LABEL_ESCAPES)}"' for k, v in labels)
            append(f"{name}{{{inner}}} {format_value(value)}\n")
        else:
            append(f"{name} {format_value(value)}\n")
    return "".join(lines)


def render_families(families: Mapping[str, Family], parts: Iterable[Mapping[str, str]]) -> bytes:
    """Join pre-rendered sample lines (one mapping family -> lines per query) into one
    exposition with a single HELP/TYPE header per family, families in name order."""
    chunks: dict[str, list[str]] = {}
    for part in parts:
        for name, text in part.items():
            if text:
                chunks.setdefault(name, []).append(text)
    out: list[str] = []
    for name in sorted(chunks):
        out.append(render_header(families[name]))
        out.extend(chunks[name])
    return "".join(out).encode()
