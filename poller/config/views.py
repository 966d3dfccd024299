"""A query's `views`: Genesys rangeBound views that count executions by how long a timer ran.

Each view buckets one timer metric (tFlow, ...) into a range in milliseconds and becomes a
metric of its own, so its name must be unique and must not clash with a metric name. Genesys
takes at most `catalog.MAX_VIEWS` per query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from poller import catalog
from poller.config.checker import Checker
from poller.config.messages import Loc, did_you_mean, quote
from poller.config.model import View

VIEW_KEYS: Final = ("name", "target", "function", "range")
VIEW_RANGE_KEYS: Final = ("gte", "lt")

_VIEW_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_EXAMPLE = "{name: tFlowUnder30s, target: tFlow, range: {lt: 30000}}"


def check_views(c: Checker, loc: Loc, m: Mapping[object, object]) -> tuple[View, ...]:
    """The views of the query mapping `m` at `loc`; only the valid ones."""
    if "views" not in m:
        return ()
    vloc = (*loc, "views")
    items = c.sequence(vloc, m["views"], f" such as [{_EXAMPLE}]")
    if items is None:
        return ()
    if len(items) > catalog.MAX_VIEWS:
        c.error(
            vloc, f"has {len(items)} views; Genesys allows at most {catalog.MAX_VIEWS} per query"
        )
    names: dict[str, int] = {}
    out = [_view(c, (*vloc, i), item, names) for i, item in enumerate(items)]
    return tuple(v for v in out if v is not None)


def _view(c: Checker, loc: Loc, raw: object, names: dict[str, int]) -> View | None:
    before = len(c.problems)
    v = c.section(loc, raw, VIEW_KEYS, f" such as {_EXAMPLE}")
    if v is None:
        return None
    name = _view_name(c, loc, v, names)
    target = _target(c, loc, v)
    if "function" in v:
        c.choice((*loc, "function"), v["function"], catalog.VIEW_FUNCTIONS, "view function")
    bounds = None
    if "range" not in v:
        c.missing(loc, "range", "bounds in milliseconds, such as {lt: 30000}")
    else:
        bounds = c.numeric_range((*loc, "range"), v["range"], VIEW_RANGE_KEYS)
        gte, lt = (bounds or {}).get("gte"), (bounds or {}).get("lt")
        if gte is not None and lt is not None and gte >= lt:
            c.error((*loc, "range"), f"gte ({gte!r}) must be less than lt ({lt!r})")
    if len(c.problems) > before or name is None or target is None or bounds is None:
        return None
    return View(name=name, target=target, gte=bounds.get("gte"), lt=bounds.get("lt"))


def _target(c: Checker, loc: Loc, v: Mapping[object, object]) -> str | None:
    timers = [t for t in catalog.AGGREGATE_METRICS if t.startswith("t")]
    if "target" not in v:
        c.missing(loc, "target", "the timer metric to bucket, such as tFlow")
        return None
    tloc = (*loc, "target")
    target = c.string(tloc, v["target"], " such as tFlow")
    if target is not None and target not in timers:
        if target in catalog.AGGREGATE_METRICS or target in catalog.OBSERVATION_METRICS:
            c.error(
                tloc,
                f"{quote(target)} is not a timer metric; views work on {', '.join(timers)}",
            )
        else:
            c.unknown_name(
                tloc,
                f"unknown flow aggregate metric {quote(target)}{did_you_mean(target, timers)}",
                plausible=target.startswith("t"),
            )
    return target


def _view_name(
    c: Checker, loc: Loc, v: Mapping[object, object], names: dict[str, int]
) -> str | None:
    if "name" not in v:
        c.missing(loc, "name", "a unique name such as tFlowUnder30s")
        return None
    nloc = (*loc, "name")
    name = c.string(nloc, v["name"], " such as tFlowUnder30s")
    if name is None:
        return None
    if not _VIEW_NAME.fullmatch(name):
        c.error(
            nloc,
            f"{quote(name)} is not a valid view name; use letters, digits and _, starting "
            "with a letter",
        )
        return None
    if name in catalog.AGGREGATE_METRICS or name in catalog.OBSERVATION_METRICS:
        c.error(nloc, f"{quote(name)} is a metric name; give the view a name of its own")
        return None
    if name in names:
        c.error(nloc, f"duplicate view name {quote(name)} (also views[{names[name]}].name)")
        return None
    names[name] = int(loc[-1])
    return name
