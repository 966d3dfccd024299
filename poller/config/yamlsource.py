"""Reading the config text as YAML, keeping the line of every key and list item.

PyYAML's plain loading forgets positions and silently keeps the last of two equal keys, so the
node tree is walked once for both before it is turned into Python values. Anything PyYAML cannot
read becomes one ConfigError, with the line where it stopped when it knows it.
"""

from __future__ import annotations

from typing import NamedTuple

import yaml

from poller.config.messages import Loc
from poller.errors import ConfigError

_MERGE_TAG = "tag:yaml.org,2002:merge"


class Duplicate(NamedTuple):
    """A key written twice in one mapping at `loc`."""

    loc: Loc
    key: str
    first_line: int
    line: int


class Document(NamedTuple):
    data: object
    lines: dict[Loc, int]
    duplicates: list[Duplicate]


def _index(
    node: yaml.Node,
    loc: Loc,
    lines: dict[Loc, int],
    duplicates: list[Duplicate],
    seen: set[int],
) -> None:
    if id(node) in seen:
        # An alias: its positions are the anchor's, and revisiting could take exponential time.
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key, line = key_node.value, key_node.start_mark.line + 1
            if (key_node.tag, key) in first:
                duplicates.append(Duplicate(loc, key, first[key_node.tag, key], line))
                continue
            first[key_node.tag, key] = line
            lines[(*loc, key)] = line
            _index(value_node, (*loc, key), lines, duplicates, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            _index(item, (*loc, i), lines, duplicates, seen)


def _load(text: str) -> Document:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(None, {}, [])
        lines: dict[Loc, int] = {(): node.start_mark.line + 1}
        duplicates: list[Duplicate] = []
        _index(node, (), lines, duplicates, set())
        return Document(loader.construct_document(node), lines, duplicates)
    finally:
        loader.dispose()


def _yaml_error(exc: Exception, source: str) -> ConfigError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = ", ".join(p for p in (exc.context, exc.problem) if p) or "cannot be parsed"
        column = f" (column {mark.column + 1})" if mark else ""
        return ConfigError(
            [f"invalid YAML: {what}{column}"], source, [mark.line + 1 if mark else None]
        )
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character
        shown = f"#x{char:04x}" if isinstance(char, int) else repr(char)
        return ConfigError(
            [f"invalid YAML: character {shown} at offset {exc.position}: {exc.reason}"], source
        )
    if isinstance(exc, RecursionError):
        return ConfigError(["invalid YAML: nested too deeply"], source)
    first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
    if "integer string conversion" in first_line:
        first_line = "a number has more than 4300 digits"
    return ConfigError([f"invalid YAML: {first_line}"], source)


def read_yaml(text: str, source: str) -> Document:
    """The document in `text` with the line of every place in it; ConfigError if not YAML."""
    try:
        return _load(text)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        # PyYAML raises ValueError for, say, an integer of 5000 digits: still "not YAML we read".
        raise _yaml_error(exc, source) from None
