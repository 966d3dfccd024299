"""The report `check-config` prints: what will be polled, how often, and at what API cost.

Each query run is one request, so a query costs 60 / every requests per minute. The budget is
`genesys.requests_per_minute` (or an org's own), this poller's share of the OAuth client's rate
limit. With `orgs:`, each org is planned on its own: its hosts, its queries, its budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from poller import alertfeeds, scope
from poller.config import format_duration
from poller.config.model import DAY_SECONDS, Config, GenesysSettings, OrgConfig, QueryConfig
from poller.genesys.listings import LISTINGS, PAGE_SIZE
from poller.nameinfo import query_reserve
from poller.push.feeding import report as push_report
from poller.seriesplan import expected_series

LIST_WIDTH = 40  # list cells longer than this are cut, with a count of what was left out
NAMES_LISTINGS = tuple(read for listing in LISTINGS for read in listing.reads)
NAMES_PERMISSIONS = tuple(listing.permission for listing in LISTINGS)
SERIES_HEADING = (
    "Series expected per flow, from each group_by dimension's typical values per flow "
    "(a poll over a query's max_series fails):"
)
HEADERS = ("QUERY", "TYPE", "EVERY", "WINDOW", "GROUP BY", "METRICS", "REQ/MIN")


def query_requests_per_minute(query: QueryConfig) -> float:
    return 60.0 / query.every


def requests_per_minute(config: Config) -> float:
    """The requests per minute all queries together need."""
    return sum(query_requests_per_minute(q) for q in config.queries)


def _rate(value: float) -> str:
    # One decimal, except for slow queries that one decimal would show as 0.0.
    return f"{value:.1f}" if value >= 0.1 or value == 0 else f"{value:.2g}"


def _fit(items: Sequence[str], width: int = LIST_WIDTH) -> str:
    if not items:
        return "-"
    text = ", ".join(items)
    if len(text) <= width:
        return text
    for shown in range(len(items) - 1, 0, -1):
        text = ", ".join(items[:shown]) + f", +{len(items) - shown} more"
        if len(text) <= width:
            return text
    return f"{items[0]}, +{len(items) - 1} more"


def window_text(query: QueryConfig) -> str:
    """What a query asks for each run, in words (check-config and the status page)."""
    if query.type == "observation":
        return "now"
    if query.mode == "counter":
        return (
            f"counter: period {_period(query.period)} ({query.time_zone}), "
            f"settle {format_duration(query.settle)}"
        )
    if query.window.today:
        text = f"today ({query.time_zone})"
    else:
        text = f"last {format_duration(query.window.seconds)}"
    if query.delay:
        text += f", {format_duration(query.delay)} delay"
    return text


def _period(seconds: float) -> str:
    return "1d" if seconds >= DAY_SECONDS else format_duration(seconds)


def _settling(query: QueryConfig) -> str:
    settle = format_duration(query.settle)
    return (
        f"{query.name}: counter mode, 1 request per run; during the first {settle} of each period "
        f"the run asks for the closed period instead of the current one (late data still lands "
        f"in it), so settling costs no extra request; the counters restart {settle} after each "
        "period ends."
    )


def _listen(config: Config) -> str:
    host, port = config.server.host, config.server.port
    if host == "":
        return f":{port} (all interfaces)"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def format_report(config: Config) -> str:
    """The text `check-config` prints for a valid config (no trailing newline): with `orgs:`,
    a heading and the plan of each org, which has its own hosts, queries and budget.

    Shows no credentials: the config holds none, and the base URLs carry no user info.
    """
    lines = [f"{config.source}: valid"]
    if not scope.labelled(config):
        lines.append(_hosts(config.genesys))
        lines.append(f"Serving metrics on {_listen(config)}")
        lines += _org_plan(config, "genesys.requests_per_minute")
    else:
        lines.append(f"Serving metrics on {_listen(config)}")
        for i, org in enumerate(config.orgs):
            region = f" ({org.genesys.region})" if org.genesys.region else ""
            lines += ["", f"Org {org.name}{region}: {_hosts(org.genesys)}"]
            lines += _org_plan(org_view(config, org), f"orgs[{i}].requests_per_minute")
    lines += [f"WARNING: {warning}" for warning in config.warnings]
    return "\n".join(lines)


def org_view(config: Config, org: OrgConfig) -> Config:
    """`config` as if `org` were its only org: its settings and queries, no `orgs:`."""
    return dataclasses.replace(config, genesys=org.genesys, queries=org.queries, orgs=())


def _hosts(g: GenesysSettings) -> str:
    return (
        f"Genesys API {g.api_base_url} (login {g.login_base_url}), "
        f"budget {g.requests_per_minute} requests/minute"
    )


def _org_plan(config: Config, budget_key: str) -> list[str]:
    """The query table, the names' share and the budget line of one org's plan."""
    budget = config.genesys.requests_per_minute
    total = requests_per_minute(config)
    rows = [HEADERS] + [
        (
            q.name,
            q.type,
            format_duration(q.every),
            window_text(q),
            _fit(q.group_by),
            _fit(q.metrics),
            _rate(query_requests_per_minute(q)),
        )
        for q in config.queries
    ]
    lines = _table(rows)
    lines += [_settling(q) for q in config.queries if q.mode == "counter"]
    lines.append(SERIES_HEADING)
    lines += [f"  {expected_series(q)}" for q in config.queries]
    lines += alertfeeds.report(config)
    lines += push_report(config.queries, config.genesys.push)
    lines += _names(config, budget_key)
    lines.append(
        f"Total: {_rate(total)} requests/minute of a budget of {budget} "
        f"({total / budget * 100:.0f} %)."
    )
    if total > budget:
        lines.append(
            f"WARNING: the queries need {_rate(total)} requests/minute, more than the budget of "
            f"{budget}; polls will be delayed by the budget. Raise `every` on some queries, or "
            f"raise {budget_key} if the OAuth client's rate limit allows it."
        )
    return lines


def _names(config: Config, budget_key: str) -> list[str]:
    names = config.names
    if not names.enabled:
        return ["Names: off (names.every: off); no _info families."]
    budget = config.genesys.requests_per_minute
    listings = len(NAMES_LISTINGS)
    reserve = query_reserve(config)
    lines = [
        f"Names: every {format_duration(names.every)}, {listings} listings "
        f"({', '.join(NAMES_LISTINGS)}), one request per {PAGE_SIZE} entities each: "
        f"{_rate(listings * 60 / names.every)} requests/minute or more, only from what the "
        f"queries leave ({min(reserve, budget)} a minute kept for them).",
        "Names need the permissions " + ", ".join(NAMES_PERMISSIONS) + "; without one, that "
        "listing's names are missing and genesyscloud_poller_names_up{kind} is 0.",
    ]
    if reserve >= budget:
        lines.append(
            f"WARNING: the queries may send {reserve} requests in a minute, the whole budget of "
            f"{budget}; the name listings will never run. Raise {budget_key} or "
            "`every` on some queries, or set names.every: off."
        )
    return lines
