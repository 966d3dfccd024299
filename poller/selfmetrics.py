"""The poller's own metrics: stock prometheus-client metrics in a registry of their own that is
never swapped or shared, plus the stock process and platform collectors.

Each family is declared once, in the table that is SelfMetrics' class body: its name, HELP,
type, labels, buckets, whether it is one org's (`PerOrg`) or the process's (`ProcessWide`), and
whether it has a series per query. The registry, the per-org views, add_query, remove_query and
remove_org are all driven by that table.

The global registry is left alone so that embedding the poller, or running two in one test
process, never mixes their numbers. No `_created` series: exporters written in Go expose none
in text format 0.0.4, and they would double the counters' series for no dashboard's use. The
daemon turns prometheus-client's process-wide switch for them off when it starts (not at import,
which would change it for any program that merely imports the poller).

Rendering these ~100 samples through prometheus-client takes about as long as sending a gzip
scrape of 100k flow series, so a rendering is reused until the daemon says something changed
(a poll ended, a reload, a query added or removed) or for RENDER_MAX_AGE at most: with any real
scrape interval every scrape renders afresh, and a burst of scrapes shares one rendering.
"""

from __future__ import annotations

import contextlib
import itertools
import platform
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar, overload

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from poller import __version__
from poller.config.model import DEFAULT_MAX_SERIES
from poller.render import gzip_member
from poller.timing import Clock

P = "genesyscloud_poller_"
RENDER_MAX_AGE = 1.0  # seconds
SKIP_REASONS = ("overrun", "paused")

M = TypeVar("M", Gauge, Counter, Histogram)


class Scoped(Generic[M]):
    """A family as one org sees it: `labels()` puts the org's value in front of the rest.

    With no org label (a config without `orgs:`) the scope is empty and this is the family as
    it is; `labels()` with no values at all is then the family itself, for unlabelled ones."""

    __slots__ = ("_scope", "family")

    def __init__(self, family: M, scope: tuple[str, ...]) -> None:
        self.family: M = family
        self._scope = scope

    def labels(self, *values: str) -> M:
        full = (*self._scope, *values)
        if not full:
            return self.family
        child: M = self.family.labels(*full)
        return child

    def remove(self, *values: str) -> None:
        with contextlib.suppress(KeyError):
            self.family.remove(*self._scope, *values)


class Declared(Generic[M]):
    """One family's declaration: a row of the table, and the attribute views expose it as.

    `labels` are the label names after `org` (which per-org families carry when the config lists
    orgs). A `per_query` family starts with the `query` label; add_query makes its series for
    every combination of `known` values of the labels after `query`, remove_query drops them. A
    `counter_only` one has a series only for counter-mode queries (see show_settling)."""

    per_org = False

    def __init__(
        self,
        kind: type[M],
        name: str,
        help: str,
        labels: tuple[str, ...] = (),
        *,
        per_query: bool = False,
        counter_only: bool = False,
        known: Mapping[str, tuple[str, ...]] | None = None,
        buckets: tuple[float, ...] | None = None,
    ) -> None:
        if per_query and labels[:1] != ("query",):
            raise ValueError(f"{name}: a per-query family's first label is query")
        self.kind: type[M] = kind
        self.name = P + name
        self.help = help
        self.labels = labels
        self.per_query = per_query
        self.counter_only = counter_only
        self.known = dict(known or {})
        self.buckets = buckets
        self.attr = ""

    def __set_name__(self, owner: type[Any], attr: str) -> None:
        self.attr = attr

    def label_names(self, org_label: bool) -> tuple[str, ...]:
        return ("org", *self.labels) if org_label and self.per_org else self.labels

    def build(self, registry: CollectorRegistry, org_label: bool) -> M:
        extra: dict[str, Any] = {} if self.buckets is None else {"buckets": self.buckets}
        family: M = self.kind(
            self.name, self.help, self.label_names(org_label), registry=registry, **extra
        )
        return family

    def query_values(self) -> Iterator[tuple[str, ...]]:
        """The label values after `query` of the series add_query makes."""
        return itertools.product(*(self.known[label] for label in self.labels[1:]))


class PerOrg(Declared[M]):
    """A family of one org's polling: a view records into it through Scoped, its org first."""

    per_org = True

    @overload
    def __get__(self, view: None, owner: type[Any]) -> PerOrg[M]: ...
    @overload
    def __get__(self, view: SelfMetrics, owner: type[Any]) -> Scoped[M]: ...
    def __get__(self, view: SelfMetrics | None, owner: type[Any]) -> PerOrg[M] | Scoped[M]:
        if view is None:
            return self
        scoped: Scoped[M] = view._scoped[self.attr]
        return scoped


class ProcessWide(Declared[M]):
    """A family of the whole process: every view gives the family itself."""

    @overload
    def __get__(self, view: None, owner: type[Any]) -> ProcessWide[M]: ...
    @overload
    def __get__(self, view: SelfMetrics, owner: type[Any]) -> M: ...
    def __get__(self, view: SelfMetrics | None, owner: type[Any]) -> ProcessWide[M] | M:
        if view is None:
            return self
        family: M = view._shared.families[self.attr]
        return family


class _Shared:
    """What every view of one SelfMetrics shares: the registry, its families, the rendering."""

    def __init__(self, *, process: bool, monotonic: Clock, max_age: float, org_label: bool) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.monotonic = monotonic
        self.max_age = max_age
        self.org_label = org_label
        self.rendered: tuple[float, bytes, bytes] | None = None  # (when, text, gzip)
        if process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self.families: dict[str, Any] = {
            row.attr: row.build(self.registry, org_label) for row in TABLE
        }

    def scoped(self, org: str) -> dict[str, Scoped[Any]]:
        scope = (org,) if self.org_label else ()
        return {row.attr: Scoped(self.families[row.attr], scope) for row in TABLE if row.per_org}


class SelfMetrics:
    """The poller's own metrics. `for_org(name)` gives the view one org's polling records
    through: the same families, with that org's `org` label value put first."""

    # The table, in exposition order.
    query_up = PerOrg(
        Gauge,
        "query_up",
        "1 if the query's last poll succeeded, 0 if it failed.",
        ("query",),
        per_query=True,
    )
    query_last_success = PerOrg(
        Gauge,
        "query_last_success_timestamp_seconds",
        "Unix time of the query's last successful poll.",
        ("query",),
        per_query=True,
    )
    query_duration = PerOrg(
        Gauge,
        "query_duration_seconds",
        "How long the query's last poll took.",
        ("query",),
        per_query=True,
    )
    query_series = PerOrg(
        Gauge, "query_series", "Series the query currently exports.", ("query",), per_query=True
    )
    query_series_limit = PerOrg(
        Gauge,
        "query_series_limit",
        "The query's max_series: a poll whose result has more series fails.",
        ("query",),
        per_query=True,
    )
    query_interval = PerOrg(
        Gauge,
        "query_interval_seconds",
        "The query's configured polling interval (every).",
        ("query",),
        per_query=True,
    )
    query_settling = PerOrg(
        Gauge,
        "query_settling",
        "Counter-mode queries only: 1 while the query shows its closed period (for `settle` "
        "from each period's start: its counters do not include the new period's data yet), "
        "else 0. Read from the clock at every scrape, so it flips at the period's start and "
        "at start + settle, between polls too.",
        ("query",),
        per_query=True,
        counter_only=True,
    )
    polls = PerOrg(Counter, "polls", "Polls started, per query.", ("query",), per_query=True)
    poll_failures = PerOrg(
        Counter, "poll_failures", "Polls that failed, per query.", ("query",), per_query=True
    )
    polls_skipped = PerOrg(
        Counter,
        "polls_skipped",
        "Scheduled polls skipped: the previous one was still running (overrun), or Genesys "
        "had asked for no requests yet (paused).",
        ("query", "reason"),
        per_query=True,
        known={"reason": SKIP_REASONS},
    )
    api_requests = PerOrg(
        Counter,
        "api_requests",
        "HTTP requests to Genesys Cloud, by endpoint and status code (error: no response).",
        ("endpoint", "code"),
    )
    api_budget = PerOrg(
        Gauge,
        "api_budget_requests_per_minute",
        "The request budget: at most this many places are taken in any 60 s "
        "(genesys.requests_per_minute, or the org's own).",
    )
    api_budget_places = PerOrg(
        Counter,
        "api_budget_places_taken",
        "Places taken in the request budget: one per request sent to the API host (query "
        "POSTs, listing GETs and push's channel calls, each retry and the re-send after a 401 "
        "included; logins and the push socket are not counted). A place is taken before the "
        "token is fetched, so an attempt whose login fails takes one and sends nothing; "
        "otherwise this equals "
        'api_requests_total{endpoint!="token"}. rate(...[5m]) * 60 against '
        "api_budget_requests_per_minute is the budget's use.",
    )
    api_request_duration = PerOrg(
        Histogram,
        "api_request_duration_seconds",
        "Latency of HTTP requests to Genesys Cloud.",
        ("endpoint",),
        buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    )
    api_retries = PerOrg(
        Counter,
        "api_retries",
        "Requests retried, by endpoint and reason.",
        ("endpoint", "reason"),
    )
    api_throttled = PerOrg(
        Counter,
        "api_throttled",
        "429 responses from Genesys Cloud, by endpoint.",
        ("endpoint",),
    )
    api_paused_until = PerOrg(
        Gauge,
        "api_paused_until_timestamp_seconds",
        "Unix time until which Genesys asked for no requests (a 429's Retry-After), by host "
        "(api or login); in the past once the pause is over.",
        ("host",),
    )
    token_refreshes = PerOrg(
        Counter, "oauth_token_refreshes", "Successful OAuth client-credentials logins."
    )
    token_expiry = PerOrg(
        Gauge,
        "oauth_token_expiry_timestamp_seconds",
        "Unix time at which the current access token expires (0: none yet).",
    )
    names_up = PerOrg(
        Gauge,
        "names_up",
        "1 if the last refresh of the Architect listing of this kind (flows, outcomes, "
        "milestones) succeeded, 0 if it failed (a 403: the OAuth client lacks its permission).",
        ("kind",),
    )
    names_last_success = PerOrg(
        Gauge,
        "names_last_success_timestamp_seconds",
        "Unix time of the last successful refresh of the Architect listing of this kind.",
        ("kind",),
    )
    push_connected = PerOrg(
        Gauge,
        "push_connected",
        "1 while every notification channel's socket of the org is open (push on), else 0.",
    )
    push_channels = PerOrg(
        Gauge, "push_channels", "Notification channels the org's push session holds."
    )
    push_topics = PerOrg(
        Gauge,
        "push_topics",
        "Notification topics subscribed, over all channels (as the subscription answers list "
        "them: a topic refused for lack of permission is not counted).",
    )
    push_messages = PerOrg(
        Counter,
        "push_messages",
        "Frames received on the notification sockets, by kind: flow, flowoutcome (data), "
        "heartbeat (heartbeats and pongs), system (v2.system.*), unusable (not understood).",
        ("kind",),
    )
    push_last_message = PerOrg(
        Gauge,
        "push_last_message_timestamp_seconds",
        "Unix time of the last frame of any kind on the org's notification sockets.",
    )
    push_reconnects = PerOrg(
        Counter,
        "push_reconnects",
        "Notification socket reconnects, by reason: dropped, socket_closing, "
        "no_longer_subscribed, token_revoked, silent (no answer to a ping), expired (the "
        "channel was gone).",
        ("reason",),
    )
    push_raised = PerOrg(
        Counter,
        "push_raised",
        "Push messages that raised a value of the query.",
        ("query",),
        per_query=True,
    )
    query_pushed = PerOrg(
        Gauge,
        "query_pushed",
        "1 when push keeps the query's counters current between polls (push on and feeding "
        "the query, every channel connected, and the last poll found the pushed figures of "
        "the current interval in step with its own), else 0. Delta-style messages never move "
        "a counter: such a query reads 0, and is not fresh between polls.",
        ("query",),
        per_query=True,
    )
    config_reload_ok = ProcessWide(
        Gauge,
        "config_last_reload_successful",
        "1 if the last configuration load or reload succeeded.",
    )
    config_reload_time = ProcessWide(
        Gauge,
        "config_last_reload_success_timestamp_seconds",
        "Unix time of the last successful configuration load or reload.",
    )
    shard_info = ProcessWide(
        Gauge,
        "shard_info",
        "This replica's shard: it polls the orgs that rendezvous hashing of their names "
        "assigns to shard_index of shard_count; always 1.",
        ("shard_index", "shard_count"),
    )
    org_info = ProcessWide(
        Gauge,
        "org_info",
        "One series per Genesys Cloud org this replica polls, with its region; always 1.",
        ("org", "genesys_region"),
    )
    build_info = ProcessWide(
        Gauge,
        "build_info",
        "Version of genesyscloud-poller and of Python; always 1.",
        ("version", "python_version"),
    )

    def __init__(
        self,
        *,
        process: bool = True,
        monotonic: Clock = time.monotonic,
        render_max_age: float = RENDER_MAX_AGE,
        org_label: bool = False,
    ) -> None:
        self._shared = _Shared(
            process=process, monotonic=monotonic, max_age=render_max_age, org_label=org_label
        )
        self.org = ""  # the org this view records for
        self._scoped = self._shared.scoped(self.org)
        self.build_info.labels(__version__, platform.python_version()).set(1)

    @property
    def registry(self) -> CollectorRegistry:
        return self._shared.registry

    @property
    def org_label(self) -> bool:
        return self._shared.org_label

    def for_org(self, org: str) -> SelfMetrics:
        """The view of org `org` (the unnamed org of a config without `orgs:`: this one)."""
        if not self.org_label:
            return self
        return _OrgView(self._shared, org)

    def add_query(
        self,
        query: str,
        every: float,
        settling: Callable[[], bool] | None = None,
        *,
        series_limit: int = DEFAULT_MAX_SERIES,
    ) -> None:
        """Make a query's series exist from the start, so dashboards and alerts see zeros.
        `settling` (counter-mode queries): whether the query shows its closed period now."""
        for row in TABLE:
            if row.per_query and not row.counter_only:
                for values in row.query_values():
                    self._scoped[row.attr].labels(query, *values)
        self.show_settings(query, every, series_limit)
        self.show_settling(query, settling)
        self.changed()

    def show_settings(self, query: str, every: float, series_limit: int) -> None:
        """The query's configured interval and max_series, at add_query and on a reload."""
        self.query_interval.labels(query).set(every)
        self.query_series_limit.labels(query).set(series_limit)
        self.changed()

    def show_settling(self, query: str, settling: Callable[[], bool] | None) -> None:
        """query_settling{query} reads `settling` at every rendering; None (not a counter-mode
        query) drops the series."""
        if settling is None:
            self.query_settling.remove(query)
        else:
            self.query_settling.labels(query).set_function(lambda: 1.0 if settling() else 0.0)
        self.changed()

    def remove_query(self, query: str) -> None:
        for row in TABLE:
            if row.per_query:
                for values in row.query_values():
                    self._scoped[row.attr].remove(query, *values)
        self.changed()

    def remove_org(self, org: str) -> None:
        """Forget every series of org `org`: its queries', client's and names' (on a reload that
        removes the org, or moves it to another shard)."""
        if not self.org_label:
            return
        for row in TABLE:
            if "org" in row.label_names(org_label=True):
                self._shared.families[row.attr].remove_by_labels({"org": org})
        self.changed()

    def changed(self) -> None:
        """The next scrape renders afresh (a rendering is otherwise reused for RENDER_MAX_AGE)."""
        self._shared.rendered = None

    def _rendering(self) -> tuple[float, bytes, bytes]:
        shared = self._shared
        now = shared.monotonic()
        rendered = shared.rendered
        if rendered is None or not 0 <= now - rendered[0] < shared.max_age:
            text = generate_latest(shared.registry)
            rendered = shared.rendered = (now, text, gzip_member(text))
        return rendered

    def render(self) -> bytes:
        """The exposition of the poller's own metrics."""
        return self._rendering()[1]

    def render_gzip(self) -> bytes:
        """render() as one gzip member."""
        return self._rendering()[2]


class _OrgView(SelfMetrics):
    """One org's view: the families and rendering of the SelfMetrics it came from (it builds
    none of its own), with its org's value first in every per-org family's labels."""

    def __init__(self, shared: _Shared, org: str) -> None:
        self._shared = shared
        self.org = org
        self._scoped = shared.scoped(org)


# Every family, in declaration (and so exposition) order.
TABLE: tuple[Declared[Any], ...] = tuple(
    row for row in vars(SelfMetrics).values() if isinstance(row, Declared)
)
