"""How config problems show what was found and where it was found.

Every message names a place as a path (`queries[1].metrics[0]`) and a value by what YAML read
(`the integer 5`, `the string 'x'`), with a did-you-mean hint for near misses. Values come from
an untrusted file, so everything here prints safely whatever the value holds: control characters
are escaped and long text is cut.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import TypeAlias

# A place in the document: ("queries", 1, "metrics", 0) is queries[1].metrics[0].
Loc: TypeAlias = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote(text: str) -> str:
    # repr escapes control characters and lone surrogates, so a message always prints.
    return repr(text if len(text) <= 60 else text[:57] + "...")


def describe(value: object) -> str:
    """What was found, for 'expected X, found Y' messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"the integer {int_text(value)}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {quote(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bytes):
        return "binary data"
    return f"a {type(value).__name__}"


def int_text(value: int) -> str:
    text = str(value)
    return text if len(text) <= 30 else text[:27] + "..."


def yaml_scalar(value: object) -> str:
    """A non-string key as YAML wrote it: `on:` is the boolean true, `~:` is null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    if len(word) > 100:
        return ""
    # Compared in lower case, so that AND finds and, and mediatype finds mediaType.
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def one_of(choices: Sequence[str]) -> str:
    quoted = [repr(c) for c in choices]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def where(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out
