"""A query's `filter`: a Genesys filter object, checked here and sent to the API as written.

A filter combines predicates and nested clauses with `and`/`or`. Each predicate names a dimension
the query type can filter on (observation queries only flowId and mediaType) and a value or a
numeric range. Values must be strings: YAML reads `5` or `yes` as other types, and Genesys would
refuse them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from poller import catalog
from poller.config.checker import Checker
from poller.config.messages import Loc, describe, did_you_mean, quote
from poller.config.model import QueryType

FILTER_KEYS: Final = ("type", "clauses", "predicates")
CLAUSE_KEYS: Final = ("type", "predicates")
PREDICATE_KEYS: Final = ("type", "dimension", "operator", "value", "range")

_PREDICATES_EXAMPLE = "[{dimension: mediaType, value: voice}]"


def check_filter(
    c: Checker, loc: Loc, m: Mapping[object, object], qtype: QueryType | None
) -> dict[str, object] | None:
    """The filter of the query mapping `m` at `loc`, or None when it has none (or none usable)."""
    if "filter" not in m:
        if qtype == "observation":
            c.missing(
                loc,
                "filter",
                "the observations API requires one, such as "
                "{type: or, predicates: [{dimension: mediaType, value: voice}]}",
            )
        return None
    floc = (*loc, "filter")
    f = c.section(
        floc,
        m["filter"],
        FILTER_KEYS,
        " such as {type: and, predicates: [{dimension: mediaType, value: voice}]}",
    )
    if f is None:
        return None
    out: dict[str, object] = {}
    _combine_type(c, floc, f, out, "filter type")
    has_clauses = False
    if "clauses" in f:
        cloc = (*floc, "clauses")
        clauses = c.sequence(cloc, f["clauses"], " of {type, predicates} clauses")
        # A clauses value of the wrong type is reported once, not also as "no predicates".
        has_clauses = clauses is None or bool(clauses)
        if clauses is not None:
            out["clauses"] = [
                _clause(c, (*cloc, i), clause, qtype) for i, clause in enumerate(clauses)
            ]
    predicates = _predicates(c, floc, f, qtype, required=False)
    if predicates is not None:
        out["predicates"] = predicates
    if not has_clauses and not predicates and (predicates is not None or "predicates" not in f):
        c.error(floc, "has no predicates; add at least one under predicates or in a clause")
    return out


def _combine_type(
    c: Checker, loc: Loc, m: Mapping[object, object], out: dict[str, object], what: str
) -> None:
    if "type" not in m:
        c.missing(loc, "type", "how the predicates combine: 'and' or 'or'")
    else:
        out["type"] = c.choice((*loc, "type"), m["type"], catalog.FILTER_TYPES, what)


def _clause(c: Checker, loc: Loc, raw: object, qtype: QueryType | None) -> dict[str, object]:
    m = c.section(loc, raw, CLAUSE_KEYS, " with type and predicates")
    if m is None:
        return {}
    out: dict[str, object] = {}
    _combine_type(c, loc, m, out, "clause type")
    predicates = _predicates(c, loc, m, qtype, required=True)
    if predicates is not None:
        out["predicates"] = predicates
    return out


def _predicates(
    c: Checker, loc: Loc, m: Mapping[object, object], qtype: QueryType | None, *, required: bool
) -> list[dict[str, object]] | None:
    if "predicates" not in m:
        if required:
            c.missing(loc, "predicates", f"a list such as {_PREDICATES_EXAMPLE}")
        return None
    ploc = (*loc, "predicates")
    items = c.sequence(ploc, m["predicates"], f" such as {_PREDICATES_EXAMPLE}")
    if items is None:
        return None
    if required and not items:
        c.error(ploc, "is empty; a clause needs at least one predicate")
    return [_predicate(c, (*ploc, i), item, qtype) for i, item in enumerate(items)]


def _predicate(c: Checker, loc: Loc, raw: object, qtype: QueryType | None) -> dict[str, object]:
    p = c.section(loc, raw, PREDICATE_KEYS, " such as {dimension: mediaType, value: voice}")
    if p is None:
        return {}
    out: dict[str, object] = {}
    if "type" in p:
        out["type"] = c.choice((*loc, "type"), p["type"], catalog.PREDICATE_TYPES, "predicate type")
    if "dimension" not in p:
        example = "flowId or mediaType" if qtype == "observation" else "such as mediaType"
        c.missing(loc, "dimension", example)
    else:
        out["dimension"] = _dimension(c, (*loc, "dimension"), p["dimension"], qtype)
    operator = "matches"
    if "operator" in p:
        operator = (
            c.choice((*loc, "operator"), p["operator"], catalog.PREDICATE_OPERATORS, "operator")
            or ""
        )
        out["operator"] = operator
    if "value" in p:
        value = p["value"]
        if isinstance(value, bool | int | float):
            c.error(
                (*loc, "value"), f"expected a string, found {describe(value)}; put it in quotes"
            )
        else:
            out["value"] = c.string((*loc, "value"), value)
    if "range" in p:
        out["range"] = c.numeric_range((*loc, "range"), p["range"], catalog.RANGE_KEYS)
    if operator == "matches" and "value" not in p and "range" not in p:
        c.error(loc, "operator 'matches' needs a value (or a range)")
    return out


def _dimension(c: Checker, loc: Loc, raw: object, qtype: QueryType | None) -> str | None:
    dim = c.string(loc, raw, " such as mediaType")
    if dim is None or qtype is None:
        return dim
    if qtype == "observation":
        if dim not in catalog.OBSERVATION_FILTER_DIMENSIONS:
            hint = did_you_mean(dim, catalog.OBSERVATION_FILTER_DIMENSIONS)
            c.unknown_name(
                loc,
                f"unknown observation filter dimension {quote(dim)}{hint}; observation "
                "queries filter only on flowId and mediaType",
            )
    elif dim not in catalog.AGGREGATE_FILTER_DIMENSIONS:
        hint = did_you_mean(dim, catalog.AGGREGATE_FILTER_DIMENSIONS)
        c.unknown_name(loc, f"unknown filter dimension {quote(dim)}{hint}")
    return dim
