"""Configs in tests: poller.yaml texts written from keyword arguments, and parsed configs read.

A query is a YAML list item (text), so blocks add up with `+` and go wherever a test takes a
queries snippet (`stack_factory`, `config_text`). A key whose value is None is left out, so the
parser's own default applies. Tests whose YAML text is itself under test (line numbers in
problems, anchors, odd syntax) keep their literal text instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import yaml

from poller.config.model import Config, OrgConfig, QueryConfig


def query_named(config: Config | OrgConfig, name: str) -> QueryConfig:
    """The query `name` of a config's top-level `queries:`, or of one org."""
    (query,) = [q for q in config.queries if q.name == name]
    return query


Value = str | int | float | bool | Sequence["Value"] | Mapping[str, "Value"] | None


def media(*types: str, op: str = "or") -> dict[str, Value]:
    """An observation filter on mediaType: `media("voice", "chat")`."""
    return {"type": op, "predicates": [{"dimension": "mediaType", "value": t} for t in types]}


def aggregate(
    name: str,
    *,
    every: str = "60s",
    window: str | None = None,
    group_by: Sequence[str] | None = None,
    metrics: Sequence[str] = ("nFlow",),
    **keys: Value,
) -> str:
    """One aggregate query; `keys` are its other keys (mode, period, views, stale_after...)."""
    return query(
        name, "aggregate", every=every, window=window, group_by=group_by, metrics=metrics, **keys
    )


def observation(
    name: str,
    *,
    every: str = "30s",
    metrics: Sequence[str] = ("oFlow",),
    filter: Mapping[str, Value] | None = None,
    **keys: Value,
) -> str:
    """One observation query, on voice unless `filter` says otherwise."""
    return query(
        name, "observation", every=every, metrics=metrics, filter=filter or media("voice"), **keys
    )


def query(name: str, kind: str, **keys: Value) -> str:
    """Any query item, keys in the order given (for a type the helpers above do not cover)."""
    return _item({"name": name, "type": kind, **keys})


def org_entry(name: str, *queries: str, **keys: Value) -> str:
    """One item of `orgs:`, with its own `queries` when given."""
    text = _item({"name": name, **keys})
    if queries:
        text += "    queries:\n" + _indent("".join(queries), 4)
    return text


def poller_yaml(
    *queries: str,
    region: str | None = "mypurecloud.ie",
    server: Mapping[str, Value] | None = None,
    names: Mapping[str, Value] | None = None,
    orgs: str = "",
    **genesys: Value,
) -> str:
    """A whole poller.yaml: genesys (region and `genesys` keys), server, names, queries, orgs.

    The queries come last but for orgs, so a test may append a section to the text."""
    text = ""
    for section, keys in (("genesys", {"region": region, **genesys}), ("server", server)):
        if keys and _present(keys):
            text += f"{section}:\n" + _keys(keys, 2)
    if names is not None:
        text += "names:\n" + _keys(names, 2)
    if queries:
        text += "queries:\n" + "".join(queries)
    if orgs:
        text += "orgs:\n" + orgs
    return text


def _present(keys: Mapping[str, Value]) -> dict[str, Value]:
    return {key: value for key, value in keys.items() if value is not None}


def _keys(keys: Mapping[str, Value], indent: int) -> str:
    """One `key: value` line per key; lists and mappings in flow style, as people write them."""
    pad = " " * indent
    return "".join(f"{pad}{key}: {_flow(value)}\n" for key, value in _present(keys).items())


def _flow(value: Value) -> str:
    # Dumped inside a list, so a scalar gets the quotes it needs ('off', '1.0') and no "...".
    text: str = yaml.safe_dump(
        [_plain(value)], default_flow_style=True, sort_keys=False, width=1_000_000
    )
    return text.strip()[1:-1]


def _plain(value: Value) -> object:
    """Tuples as lists, so PyYAML's safe dumper takes them."""
    if isinstance(value, Mapping):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def _item(keys: Mapping[str, Value]) -> str:
    """A list item under a top-level key: `  - name: ...`, its other keys below."""
    return "  - " + _keys(keys, 4)[4:]


def _indent(text: str, by: int) -> str:
    return "".join(" " * by + line + "\n" for line in text.splitlines())
