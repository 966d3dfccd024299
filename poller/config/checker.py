"""The problem collector every part of the config check reports to, and the shape checks they
share (a mapping with known keys, a list, a string, a number in range, one of a few words).

Checking never stops at the first problem: each check records what is wrong with its place and
YAML line, returns None, and the walk goes on, so one run lists everything. Unknown catalog names
are warnings instead when the file says `strict_names: false`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final, TypeVar

from poller.config.messages import (
    Loc,
    describe,
    did_you_mean,
    int_text,
    one_of,
    quote,
    where,
    yaml_scalar,
)
from poller.config.values import InvalidError, duration_seconds
from poller.config.yamlsource import Document
from poller.errors import ConfigError

_T = TypeVar("_T")


class Missing:
    """Marks a key that is absent, as opposed to present with the value null."""


MISSING: Final = Missing()


class Checker:
    """Collects problems and warnings for one document, given the line of each place in it."""

    def __init__(self, lines: Mapping[Loc, int]) -> None:
        self._lines = lines
        self.strict = True
        self.problems: list[str] = []
        self._problem_lines: list[int | None] = []
        self.warnings: list[str] = []

    @classmethod
    def for_document(cls, document: Document) -> Checker:
        """A checker for `document` that already holds its duplicate keys as problems."""
        checker = cls(document.lines)
        for dup in document.duplicates:
            checker.error(
                dup.loc,
                f"duplicate key {quote(dup.key)} (first at line {dup.first_line})",
                line=dup.line,
            )
        return checker

    def _line_of(self, loc: Loc) -> int | None:
        while loc not in self._lines:
            if not loc:
                return None
            loc = loc[:-1]
        return self._lines[loc]

    def error(
        self, loc: Loc, message: str, *, at: Loc | None = None, line: int | None = None
    ) -> None:
        place = where(loc)
        self.problems.append(f"{place}: {message}" if place else message)
        self._problem_lines.append(line if line is not None else self._line_of(at or loc))

    def env_error(self, name: str, message: str) -> None:
        self.problems.append(f"{name}: {message}")
        self._problem_lines.append(None)

    def unknown_name(self, loc: Loc, message: str, *, plausible: bool = True) -> None:
        """An unknown catalog name: an error, or a warning under `strict_names: false`."""
        if self.strict or not plausible:
            self.error(loc, message)
        else:
            self.warnings.append(f"{where(loc)}: {message}")

    def missing(self, loc: Loc, key: str, hint: str) -> None:
        self.error(loc, f"missing required key {key!r} ({hint})")

    def config_error(self, source: str) -> ConfigError:
        """Every problem found, in file order as an editor shows them (the environment's first)."""
        found = sorted(
            zip(self._problem_lines, self.problems, strict=True), key=lambda p: p[0] or 0
        )
        return ConfigError([p for _, p in found], source, [line for line, _ in found])

    def mapping(self, loc: Loc, value: object, hint: str = "") -> Mapping[object, object] | None:
        if isinstance(value, dict):
            return value
        self.error(loc, f"expected a mapping{hint}, found {describe(value)}")
        return None

    def keys(
        self,
        loc: Loc,
        mapping: Mapping[object, object],
        allowed: Sequence[str],
        special: Mapping[str, str] | None = None,
    ) -> None:
        """Reports keys not in `allowed`; `special` gives some of them a message of their own."""
        for key in mapping:
            if isinstance(key, str) and key in allowed:
                continue
            if isinstance(key, str) and special and key in special:
                self.error((*loc, key), special[key])
                continue
            hint = did_you_mean(key, allowed) if isinstance(key, str) else ""
            shown = quote(key) if isinstance(key, str) else yaml_scalar(key)
            at = (*loc, key) if isinstance(key, str) else loc
            self.error(loc, f"unknown key {shown}{hint}; allowed: {', '.join(allowed)}", at=at)

    def section(
        self,
        loc: Loc,
        value: object,
        allowed: Sequence[str],
        hint: str = "",
        special: Mapping[str, str] | None = None,
    ) -> Mapping[object, object] | None:
        """`value` as a mapping whose keys are all in `allowed`, or None if it is no mapping."""
        m = self.mapping(loc, value, hint)
        if m is not None:
            self.keys(loc, m, allowed, special)
        return m

    def sequence(self, loc: Loc, value: object, hint: str = "") -> list[object] | None:
        if isinstance(value, list):
            return value
        self.error(loc, f"expected a list{hint}, found {describe(value)}")
        return None

    def string(self, loc: Loc, value: object, hint: str = "") -> str | None:
        if isinstance(value, str):
            return value
        self.error(loc, f"expected a string{hint}, found {describe(value)}")
        return None

    def unique_strings(
        self, loc: Loc, items: Sequence[object], hint: str, what: str
    ) -> Iterator[tuple[Loc, str]]:
        """The strings of list `items` at `loc` with their places, each once.

        Lazy, so that problems the caller finds in an item are reported in list order.
        """
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            iloc = (*loc, i)
            text = self.string(iloc, item, hint)
            if text is None:
                continue
            if text in seen:
                self.error(iloc, f"duplicate {what} {quote(text)} (also {loc[-1]}[{seen[text]}])")
                continue
            seen[text] = i
            yield iloc, text

    def integer(self, loc: Loc, value: object, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(loc, f"expected an integer from {low} to {high}, found {describe(value)}")
            return None
        if not low <= value <= high:
            self.error(loc, f"{int_text(value)} is out of range; use {low} to {high}")
            return None
        return value

    def number(self, loc: Loc, value: object) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(loc, f"expected a number, found {describe(value)}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.error(loc, f"expected a finite number, found {describe(value)}")
            return None
        return value

    def numeric_range(self, loc: Loc, raw: object, keys: Sequence[str]) -> dict[str, float] | None:
        r = self.section(loc, raw, keys, f" with {one_of(keys)}")
        if r is None:
            return None
        out: dict[str, float] = {}
        for key in keys:
            if key in r:
                number = self.number((*loc, key), r[key])
                if number is not None:
                    out[key] = number
        if not any(key in r for key in keys):
            self.error(loc, f"needs at least one of {', '.join(keys)}")
        return out

    def boolean(self, loc: Loc, value: object) -> bool | None:
        if isinstance(value, bool):
            return value
        self.error(loc, f"expected true or false, found {describe(value)}")
        return None

    def read(self, loc: Loc, reader: Callable[[object], _T], value: object) -> _T | None:
        """`reader(value)`, or None once its InvalidError is reported at `loc`."""
        try:
            return reader(value)
        except InvalidError as exc:
            self.error(loc, str(exc))
            return None

    def duration(self, loc: Loc, value: object) -> float | None:
        return self.read(loc, duration_seconds, value)

    def choice(self, loc: Loc, value: object, choices: Sequence[str], what: str) -> str | None:
        text = self.string(loc, value, f" ({one_of(choices)})")
        if text is None:
            return None
        if text in choices:
            return text
        hint = did_you_mean(text, choices)
        self.error(loc, f"unknown {what} {quote(text)}{hint}; use {one_of(choices)}")
        return None
