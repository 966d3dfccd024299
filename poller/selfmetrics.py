"""The poller's own metrics: stock prometheus-client metrics in a registry of their own that is
never swapped or shared, plus the stock process and platform collectors.

The global registry is left alone so that embedding the poller, or running two in one test
process, never mixes their numbers. No `_created` series: exporters written in Go expose none
in text format 0.0.4, and they would double the counters' series for no dashboard's use.

Rendering these ~100 samples through prometheus-client takes about as long as sending a gzip
scrape of 100k flow series, so a rendering is reused until the daemon says something changed
(a poll ended, a reload, a query added or removed) or for RENDER_MAX_AGE at most: with any real
scrape interval every scrape renders afresh, and a burst of scrapes shares one rendering.
"""

from __future__ import annotations

import contextlib
import platform
import time
from typing import Generic, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from poller import __version__
from poller.render import gzip_member
from poller.timing import Clock

P = "genesyscloud_poller_"
RENDER_MAX_AGE = 1.0  # seconds
SKIP_REASONS = ("overrun", "paused")

disable_created_metrics()  # type: ignore[no-untyped-call]


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


class _Shared:
    """What every view of one SelfMetrics shares: the registry, its families, the rendering."""

    def __init__(self, *, process: bool, monotonic: Clock, max_age: float, org_label: bool) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.monotonic = monotonic
        self.max_age = max_age
        self.org_label = org_label
        self.rendered: tuple[float, bytes, bytes] | None = None  # (when, text, gzip)
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
        # Families of one org's polling carry `org` first, when the config lists orgs.
        o = ["org"] if org_label else []
        self.query_up = Gauge(
            P + "query_up",
            "1 if the query's last poll succeeded, 0 if it failed.",
            [*o, "query"],
            registry=r,
        )
        self.query_last_success = Gauge(
            P + "query_last_success_timestamp_seconds",
            "Unix time of the query's last successful poll.",
            [*o, "query"],
            registry=r,
        )
        self.query_duration = Gauge(
            P + "query_duration_seconds",
            "How long the query's last poll took.",
            [*o, "query"],
            registry=r,
        )
        self.query_series = Gauge(
            P + "query_series", "Series the query currently exports.", [*o, "query"], registry=r
        )
        self.query_interval = Gauge(
            P + "query_interval_seconds",
            "The query's configured polling interval (every).",
            [*o, "query"],
            registry=r,
        )
        self.polls = Counter(P + "polls", "Polls started, per query.", [*o, "query"], registry=r)
        self.poll_failures = Counter(
            P + "poll_failures", "Polls that failed, per query.", [*o, "query"], registry=r
        )
        self.polls_skipped = Counter(
            P + "polls_skipped",
            "Scheduled polls skipped: the previous one was still running (overrun), or Genesys "
            "had asked for no requests yet (paused).",
            [*o, "query", "reason"],
            registry=r,
        )
        self.api_requests = Counter(
            P + "api_requests",
            "HTTP requests to Genesys Cloud, by endpoint and status code (error: no response).",
            [*o, "endpoint", "code"],
            registry=r,
        )
        self.api_request_duration = Histogram(
            P + "api_request_duration_seconds",
            "Latency of HTTP requests to Genesys Cloud.",
            [*o, "endpoint"],
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
        )
        self.api_retries = Counter(
            P + "api_retries",
            "Requests retried, by endpoint and reason.",
            [*o, "endpoint", "reason"],
            registry=r,
        )
        self.api_throttled = Counter(
            P + "api_throttled",
            "429 responses from Genesys Cloud, by endpoint.",
            [*o, "endpoint"],
            registry=r,
        )
        self.api_paused_until = Gauge(
            P + "api_paused_until_timestamp_seconds",
            "Unix time until which Genesys asked for no requests (a 429's Retry-After), by host "
            "(api or login); in the past once the pause is over.",
            [*o, "host"],
            registry=r,
        )
        self.token_refreshes = Counter(
            P + "oauth_token_refreshes",
            "Successful OAuth client-credentials logins.",
            o,
            registry=r,
        )
        self.token_expiry = Gauge(
            P + "oauth_token_expiry_timestamp_seconds",
            "Unix time at which the current access token expires (0: none yet).",
            o,
            registry=r,
        )
        self.names_up = Gauge(
            P + "names_up",
            "1 if the last refresh of the Architect listing of this kind (flows, outcomes, "
            "milestones) succeeded, 0 if it failed (a 403: the OAuth client lacks its permission).",
            [*o, "kind"],
            registry=r,
        )
        self.names_last_success = Gauge(
            P + "names_last_success_timestamp_seconds",
            "Unix time of the last successful refresh of the Architect listing of this kind.",
            [*o, "kind"],
            registry=r,
        )
        self.config_reload_ok = Gauge(
            P + "config_last_reload_successful",
            "1 if the last configuration load or reload succeeded.",
            registry=r,
        )
        self.config_reload_time = Gauge(
            P + "config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load or reload.",
            registry=r,
        )
        self.shard_info = Gauge(
            P + "shard_info",
            "This replica's shard: it polls the orgs that rendezvous hashing of their names "
            "assigns to shard_index of shard_count; always 1.",
            ["shard_index", "shard_count"],
            registry=r,
        )
        self.org_info = Gauge(
            P + "org_info",
            "One series per Genesys Cloud org this replica polls, with its region; always 1.",
            ["org", "genesys_region"],
            registry=r,
        )
        build = Gauge(
            P + "build_info",
            "Version of genesyscloud-poller and of Python; always 1.",
            ["version", "python_version"],
            registry=r,
        )
        build.labels(__version__, platform.python_version()).set(1)


class SelfMetrics:
    """The poller's own metrics. `for_org(name)` gives the view one org's polling records
    through: the same families, with that org's `org` label value put first."""

    def __init__(
        self,
        *,
        process: bool = True,
        monotonic: Clock = time.monotonic,
        render_max_age: float = RENDER_MAX_AGE,
        org_label: bool = False,
    ) -> None:
        shared = _Shared(
            process=process, monotonic=monotonic, max_age=render_max_age, org_label=org_label
        )
        self._bind(shared, ())

    def _bind(self, shared: _Shared, scope: tuple[str, ...]) -> None:
        self._shared = shared
        self.org = scope[0] if scope else ""  # the org this view records for
        self.registry = shared.registry
        self.org_label = shared.org_label
        self.config_reload_ok = shared.config_reload_ok
        self.config_reload_time = shared.config_reload_time
        self.shard_info = shared.shard_info
        self.org_info = shared.org_info
        s = shared
        self.query_up = Scoped(s.query_up, scope)
        self.query_last_success = Scoped(s.query_last_success, scope)
        self.query_duration = Scoped(s.query_duration, scope)
        self.query_series = Scoped(s.query_series, scope)
        self.query_interval = Scoped(s.query_interval, scope)
        self.polls = Scoped(s.polls, scope)
        self.poll_failures = Scoped(s.poll_failures, scope)
        self.polls_skipped = Scoped(s.polls_skipped, scope)
        self.api_requests = Scoped(s.api_requests, scope)
        self.api_request_duration = Scoped(s.api_request_duration, scope)
        self.api_retries = Scoped(s.api_retries, scope)
        self.api_throttled = Scoped(s.api_throttled, scope)
        self.api_paused_until = Scoped(s.api_paused_until, scope)
        self.token_refreshes = Scoped(s.token_refreshes, scope)
        self.token_expiry = Scoped(s.token_expiry, scope)
        self.names_up = Scoped(s.names_up, scope)
        self.names_last_success = Scoped(s.names_last_success, scope)

    def for_org(self, org: str) -> SelfMetrics:
        """The view of org `org` (the unnamed org of a config without `orgs:`: this one)."""
        if not self.org_label:
            return self
        view = SelfMetrics.__new__(SelfMetrics)
        view._bind(self._shared, (org,))
        return view

    def add_query(self, query: str, every: float) -> None:
        """Make a query's series exist from the start, so dashboards and alerts see zeros."""
        self.query_up.labels(query).set(0)
        self.query_last_success.labels(query)
        self.query_duration.labels(query)
        self.query_series.labels(query)
        self.query_interval.labels(query).set(every)
        self.polls.labels(query)
        self.poll_failures.labels(query)
        for reason in SKIP_REASONS:
            self.polls_skipped.labels(query, reason)
        self.changed()

    def remove_query(self, query: str) -> None:
        for metric in (
            self.query_up,
            self.query_last_success,
            self.query_duration,
            self.query_series,
            self.query_interval,
            self.polls,
            self.poll_failures,
        ):
            metric.remove(query)
        for reason in SKIP_REASONS:
            self.polls_skipped.remove(query, reason)
        self.changed()

    def remove_org(self, org: str) -> None:
        """Forget every series of org `org`: its queries', client's and names' (on a reload that
        removes the org, or moves it to another shard)."""
        if not self.org_label:
            return
        # Every family a view scopes carries `org`, and so does org_info.
        scoped = [v.family for v in vars(self).values() if isinstance(v, Scoped)]
        for family in (*scoped, self.org_info):
            family.remove_by_labels({"org": org})
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
