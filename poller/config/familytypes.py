"""One type per metric family across every query of every org: the exposition has one `# TYPE`
line per family, so a counter-mode timer that is a histogram in one query (it has `lt` views)
and a summary in another would make Prometheus refuse the whole scrape.
"""

from __future__ import annotations

from collections.abc import Sequence

from poller.config.checker import Checker
from poller.config.messages import Loc, quote
from poller.config.model import QueryConfig
from poller.counters import counter_spec
from poller.families import distribution_family

# (where a query list is, the queries in it)
QueryLists = Sequence[tuple[Loc, Sequence[QueryConfig]]]


def check_family_types(c: Checker, lists: QueryLists) -> None:
    """An error at each counter-mode query whose timer family has another type than the first
    query that made that family."""
    first: dict[str, tuple[str, str]] = {}  # family -> (type, the query that made it)
    for loc, queries in lists:
        for i, query in enumerate(queries):
            spec = counter_spec(query)
            if spec is None:
                continue
            for metric in query.metrics:
                if not metric.startswith("t"):
                    continue
                histogram = spec.buckets(metric) is not None
                family = distribution_family(metric, view=False, histogram=histogram).name
                kind = "a histogram" if histogram else "a summary"
                seen = first.setdefault(family, (kind, query.name))
                if seen[0] != kind:
                    c.error(
                        (*loc, i, "views"),
                        f"makes {metric} {kind} ({family}), but query {quote(seen[1])} makes it "
                        f"{seen[0]}: one family has one type in /metrics. Give every "
                        f"counter-mode query with {metric} lt views on it, or none",
                    )
