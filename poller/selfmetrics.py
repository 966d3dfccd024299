"""The poller's own metrics, in a registry of their own that is never swapped or shared.

The global prometheus-client registry is left alone so that embedding the poller, or running
two in one test process, never mixes their numbers.
"""

from __future__ import annotations

import contextlib
import platform

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from poller import __version__

P = "genesyscloud_poller_"


class SelfMetrics:
    def __init__(self, *, process: bool = True) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.query_up = Gauge(
            P + "query_up", "1 if the query's last poll succeeded, 0 if it failed.", ["query"],
            registry=r,
        )  # fmt: skip
        self.query_last_success = Gauge(
            P + "query_last_success_timestamp_seconds",
            "Unix time of the query's last successful poll.", ["query"], registry=r,
        )  # fmt: skip
        self.query_duration = Gauge(
            P + "query_duration_seconds", "How long the query's last poll took.", ["query"],
            registry=r,
        )  # fmt: skip
        self.query_series = Gauge(
            P + "query_series", "Series the query currently exports.", ["query"], registry=r
        )
        self.query_interval = Gauge(
            P + "query_interval_seconds", "The query's configured polling interval (every).",
            ["query"], registry=r,
        )  # fmt: skip
        self.polls = Counter(P + "polls", "Polls started, per query.", ["query"], registry=r)
        self.poll_failures = Counter(
            P + "poll_failures", "Polls that failed, per query.", ["query"], registry=r
        )
        self.polls_skipped = Counter(
            P + "polls_skipped",
            "Scheduled polls skipped because the previous one was still running.", ["query"],
            registry=r,
        )  # fmt: skip
        self.api_requests = Counter(
            P + "api_requests",
            "HTTP requests to Genesys Cloud, by endpoint and status code (error: no response).",
            ["endpoint", "code"], registry=r,
        )  # fmt: skip
        self.api_request_duration = Histogram(
            P + "api_request_duration_seconds", "Latency of HTTP requests to Genesys Cloud.",
            ["endpoint"], registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
        )  # fmt: skip
        self.api_retries = Counter(
            P + "api_retries", "Requests retried, by endpoint and reason.",
            ["endpoint", "reason"], registry=r,
        )  # fmt: skip
        self.api_throttled = Counter(
            P + "api_throttled", "429 responses from Genesys Cloud, by endpoint.", ["endpoint"],
            registry=r,
        )  # fmt: skip
        self.token_refreshes = Counter(
            P + "oauth_token_refreshes", "Successful OAuth client-credentials logins.", registry=r
        )
        self.token_expiry = Gauge(
            P + "oauth_token_expiry_timestamp_seconds",
            "Unix time at which the current access token expires (0: none yet).", registry=r,
        )  # fmt: skip
        self.config_reload_ok = Gauge(
            P + "config_last_reload_successful",
            "1 if the last configuration load or reload succeeded.", registry=r,
        )  # fmt: skip
        self.config_reload_time = Gauge(
            P + "config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load or reload.", registry=r,
        )  # fmt: skip
        build = Gauge(
            P + "build_info", "Version of genesyscloud-poller and of Python; always 1.",
            ["version", "python_version"], registry=r,
        )  # fmt: skip
        build.labels(__version__, platform.python_version()).set(1)
        if process:
            ProcessCollector(registry=r)

    def add_query(self, query: str, every: float) -> None:
        """Make a query's series exist from the start, so dashboards and alerts see zeros."""
        self.query_up.labels(query).set(0)
        self.query_last_success.labels(query)
        self.query_duration.labels(query)
        self.query_series.labels(query)
        self.query_interval.labels(query).set(every)
        self.polls.labels(query)
        self.poll_failures.labels(query)
        self.polls_skipped.labels(query)

    def remove_query(self, query: str) -> None:
        for metric in (
            self.query_up, self.query_last_success, self.query_duration, self.query_series,
            self.query_interval, self.polls, self.poll_failures, self.polls_skipped,
        ):  # fmt: skip
            with contextlib.suppress(KeyError):
                metric.remove(query)

    def render(self) -> bytes:
        return generate_latest(self.registry)
