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
from collections.abc import Callable

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

P = "genesyscloud_poller_"
RENDER_MAX_AGE = 1.0  # seconds
SKIP_REASONS = ("overrun", "paused")

disable_created_metrics()  # type: ignore[no-untyped-call]


class SelfMetrics:
    def __init__(
        self,
        *,
        process: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        render_max_age: float = RENDER_MAX_AGE,
    ) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self._monotonic = monotonic
        self._max_age = render_max_age
        self._rendered: tuple[float, bytes, bytes] | None = None  # (when, text, gzip)
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
        self.query_up = Gauge(
            P + "query_up",
            "1 if the query's last poll succeeded, 0 if it failed.",
            ["query"],
            registry=r,
        )
        self.query_last_success = Gauge(
            P + "query_last_success_timestamp_seconds",
            "Unix time of the query's last successful poll.",
            ["query"],
            registry=r,
        )
        self.query_duration = Gauge(
            P + "query_duration_seconds",
            "How long the query's last poll took.",
            ["query"],
            registry=r,
        )
        self.query_series = Gauge(
            P + "query_series", "Series the query currently exports.", ["query"], registry=r
        )
        self.query_interval = Gauge(
            P + "query_interval_seconds",
            "The query's configured polling interval (every).",
            ["query"],
            registry=r,
        )
        self.polls = Counter(P + "polls", "Polls started, per query.", ["query"], registry=r)
        self.poll_failures = Counter(
            P + "poll_failures", "Polls that failed, per query.", ["query"], registry=r
        )
        self.polls_skipped = Counter(
            P + "polls_skipped",
            "Scheduled polls skipped: the previous one was still running (overrun), or Genesys "
            "had asked for no requests yet (paused).",
            ["query", "reason"],
            registry=r,
        )
        self.api_requests = Counter(
            P + "api_requests",
            "HTTP requests to Genesys Cloud, by endpoint and status code (error: no response).",
            ["endpoint", "code"],
            registry=r,
        )
        self.api_request_duration = Histogram(
            P + "api_request_duration_seconds",
            "Latency of HTTP requests to Genesys Cloud.",
            ["endpoint"],
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
        )
        self.api_retries = Counter(
            P + "api_retries",
            "Requests retried, by endpoint and reason.",
            ["endpoint", "reason"],
            registry=r,
        )
        self.api_throttled = Counter(
            P + "api_throttled",
            "429 responses from Genesys Cloud, by endpoint.",
            ["endpoint"],
            registry=r,
        )
        self.api_paused_until = Gauge(
            P + "api_paused_until_timestamp_seconds",
            "Unix time until which Genesys asked for no requests (a 429's Retry-After), by host "
            "(api or login); in the past once the pause is over.",
            ["host"],
            registry=r,
        )
        self.token_refreshes = Counter(
            P + "oauth_token_refreshes",
            "Successful OAuth client-credentials logins.",
            registry=r,
        )
        self.token_expiry = Gauge(
            P + "oauth_token_expiry_timestamp_seconds",
            "Unix time at which the current access token expires (0: none yet).",
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
        self.names_up = Gauge(
            P + "names_up",
            "1 if the last refresh of the Architect listing of this kind (flows, outcomes, "
            "milestones) succeeded, 0 if it failed (a 403: the OAuth client lacks its permission).",
            ["kind"],
            registry=r,
        )
        self.names_last_success = Gauge(
            P + "names_last_success_timestamp_seconds",
            "Unix time of the last successful refresh of the Architect listing of this kind.",
            ["kind"],
            registry=r,
        )
        build = Gauge(
            P + "build_info",
            "Version of genesyscloud-poller and of Python; always 1.",
            ["version", "python_version"],
            registry=r,
        )
        build.labels(__version__, platform.python_version()).set(1)

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
            with contextlib.suppress(KeyError):
                metric.remove(query)
        for reason in SKIP_REASONS:
            with contextlib.suppress(KeyError):
                self.polls_skipped.remove(query, reason)
        self.changed()

    def changed(self) -> None:
        """The next scrape renders afresh (a rendering is otherwise reused for RENDER_MAX_AGE)."""
        self._rendered = None

    def _rendering(self) -> tuple[float, bytes, bytes]:
        now = self._monotonic()
        rendered = self._rendered
        if rendered is None or not 0 <= now - rendered[0] < self._max_age:
            text = generate_latest(self.registry)
            rendered = self._rendered = (now, text, gzip_member(text))
        return rendered

    def render(self) -> bytes:
        """The exposition of the poller's own metrics."""
        return self._rendering()[1]

    def render_gzip(self) -> bytes:
        """render() as one gzip member."""
        return self._rendering()[2]
