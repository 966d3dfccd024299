"""The poller's own metrics, in a registry of their own that is never swapped or shared.

The global prometheus-client registry is left alone so that embedding the poller, or running
two in one test process, never mixes their numbers.

prometheus-client takes ~2 ms to render these ~80 samples: more than a scrape of 100k flow
series costs otherwise. So every change to them (a value, a child added or removed) is
counted, and they are rendered again only after one. The process metrics change by
themselves: they are read again for any scrape that comes a second or more after the last
read, which with any real scrape interval is every scrape.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import time
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase

from poller import __version__
from poller.render import format_value, gzip_member

P = "genesyscloud_poller_"
# Process metrics are read again when the last reading is this old. Scrapes that come closer
# together (several Prometheus servers, a benchmark) share a reading: each read costs 0.1 to
# 0.4 ms of syscalls, as much as the rest of a gzip scrape of 100k series.
PROCESS_MAX_AGE = 1.0


class _Changes:
    """How many times the self-metrics changed: their rendering is kept until the next one."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


T = TypeVar("T", bound="_Tracked")


class _Tracked(MetricWrapperBase):
    """A metric that counts its changes, and its children's, in a shared _Changes."""

    _changes: _Changes

    def labels(self: T, *labelvalues: object, **labelkwargs: object) -> T:
        child = super().labels(*labelvalues, **labelkwargs)
        child._changes = self._changes
        self._changes.count += 1  # it may be a new child: a new series
        return child

    def remove(self, *labelvalues: Any) -> None:
        super().remove(*labelvalues)
        self._changes.count += 1

    def remove_by_labels(self, labels: dict[str, str]) -> None:
        super().remove_by_labels(labels)
        self._changes.count += 1

    def clear(self) -> None:
        super().clear()
        self._changes.count += 1


class _Counter(_Tracked, Counter):
    def inc(self, amount: float = 1, exemplar: dict[str, str] | None = None) -> None:
        super().inc(amount, exemplar)
        self._changes.count += 1


class _Gauge(_Tracked, Gauge):
    def inc(self, amount: float = 1) -> None:
        super().inc(amount)
        self._changes.count += 1

    def dec(self, amount: float = 1) -> None:
        super().dec(amount)
        self._changes.count += 1

    def set(self, value: float) -> None:
        super().set(value)
        self._changes.count += 1


class _Histogram(_Tracked, Histogram):
    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        super().observe(amount, exemplar)
        self._changes.count += 1


M = TypeVar("M", bound=_Tracked)


# process_<name>: (type, help), as prometheus-client's ProcessCollector has them.
PROCESS_FAMILIES = {
    "virtual_memory_bytes": ("gauge", "Virtual memory size in bytes."),
    "resident_memory_bytes": ("gauge", "Resident memory size in bytes."),
    "start_time_seconds": ("gauge", "Start time of the process since unix epoch in seconds."),
    "cpu_seconds_total": ("counter", "Total user and system CPU time spent in seconds."),
    "open_fds": ("gauge", "Number of open file descriptors."),
    "max_fds": ("gauge", "Maximum number of open file descriptors."),
}


class ProcessMetrics:
    """The process_* metrics of prometheus-client's ProcessCollector (same names, help and
    types), read from /proc and rendered in a tenth of its time, since scrapes read them.
    Nothing, as with ProcessCollector, where there is no /proc."""

    def __init__(self, proc: str = "/proc") -> None:
        self._stat = os.path.join(proc, "self", "stat")
        self._fds = os.path.join(proc, "self", "fd")
        self._ticks = float(os.sysconf("SC_CLK_TCK"))
        self._pagesize = resource.getpagesize()
        self._boot_time: float | None = None
        with (
            contextlib.suppress(OSError, ValueError, IndexError),
            open(os.path.join(proc, "stat"), "rb") as stat,
        ):
            for line in stat:
                if line.startswith(b"btime "):
                    self._boot_time = float(line.split()[1])
        self._lines = {
            name: f"# HELP process_{name} {text}\n# TYPE process_{name} {kind}\nprocess_{name} "
            for name, (kind, text) in PROCESS_FAMILIES.items()
        }

    def values(self) -> dict[str, float]:
        if self._boot_time is None:
            return {}
        out: dict[str, float] = {}
        with contextlib.suppress(OSError, ValueError, IndexError):
            fd = os.open(self._stat, os.O_RDONLY)
            try:
                text = os.read(fd, 4096)
            finally:
                os.close(fd)
            # Fields after the command name, which may itself hold spaces and parentheses.
            parts = text[text.rindex(b")") + 2 :].split()
            out["virtual_memory_bytes"] = float(parts[20])
            out["resident_memory_bytes"] = float(parts[21]) * self._pagesize
            out["start_time_seconds"] = float(parts[19]) / self._ticks + self._boot_time
            out["cpu_seconds_total"] = (float(parts[11]) + float(parts[12])) / self._ticks
        with contextlib.suppress(OSError):
            out["open_fds"] = float(len(os.listdir(self._fds)))
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            out["max_fds"] = float("inf") if soft == resource.RLIM_INFINITY else float(soft)
        return out

    def render(self) -> bytes:
        lines = self._lines
        return "".join(
            [f"{lines[name]}{format_value(value)}\n" for name, value in self.values().items()]
        ).encode()


class SelfMetrics:
    def __init__(
        self, *, process: bool = True, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        changes = self._changes = _Changes()

        def track(metric: M) -> M:
            metric._changes = changes
            return metric

        self._rendered: tuple[int, bytes, bytes] | None = None  # (changes, text, gzip)
        self.query_up = track(_Gauge(
            P + "query_up", "1 if the query's last poll succeeded, 0 if it failed.", ["query"],
            registry=r,
        ))  # fmt: skip
        self.query_last_success = track(_Gauge(
            P + "query_last_success_timestamp_seconds",
            "Unix time of the query's last successful poll.", ["query"], registry=r,
        ))  # fmt: skip
        self.query_duration = track(_Gauge(
            P + "query_duration_seconds", "How long the query's last poll took.", ["query"],
            registry=r,
        ))  # fmt: skip
        self.query_series = track(
            _Gauge(P + "query_series", "Series the query currently exports.", ["query"], registry=r)
        )
        self.query_interval = track(_Gauge(
            P + "query_interval_seconds", "The query's configured polling interval (every).",
            ["query"], registry=r,
        ))  # fmt: skip
        self.polls = track(
            _Counter(P + "polls", "Polls started, per query.", ["query"], registry=r)
        )
        self.poll_failures = track(
            _Counter(P + "poll_failures", "Polls that failed, per query.", ["query"], registry=r)
        )
        self.polls_skipped = track(_Counter(
            P + "polls_skipped",
            "Scheduled polls skipped because the previous one was still running.", ["query"],
            registry=r,
        ))  # fmt: skip
        self.api_requests = track(_Counter(
            P + "api_requests",
            "HTTP requests to Genesys Cloud, by endpoint and status code (error: no response).",
            ["endpoint", "code"], registry=r,
        ))  # fmt: skip
        self.api_request_duration = track(_Histogram(
            P + "api_request_duration_seconds", "Latency of HTTP requests to Genesys Cloud.",
            ["endpoint"], registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
        ))  # fmt: skip
        self.api_retries = track(_Counter(
            P + "api_retries", "Requests retried, by endpoint and reason.",
            ["endpoint", "reason"], registry=r,
        ))  # fmt: skip
        self.api_throttled = track(_Counter(
            P + "api_throttled", "429 responses from Genesys Cloud, by endpoint.", ["endpoint"],
            registry=r,
        ))  # fmt: skip
        self.token_refreshes = track(
            _Counter(
                P + "oauth_token_refreshes",
                "Successful OAuth client-credentials logins.",
                registry=r,
            )
        )
        self.token_expiry = track(_Gauge(
            P + "oauth_token_expiry_timestamp_seconds",
            "Unix time at which the current access token expires (0: none yet).", registry=r,
        ))  # fmt: skip
        self.config_reload_ok = track(_Gauge(
            P + "config_last_reload_successful",
            "1 if the last configuration load or reload succeeded.", registry=r,
        ))  # fmt: skip
        self.config_reload_time = track(_Gauge(
            P + "config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load or reload.", registry=r,
        ))  # fmt: skip
        build = track(_Gauge(
            P + "build_info", "Version of genesyscloud-poller and of Python; always 1.",
            ["version", "python_version"], registry=r,
        ))  # fmt: skip
        build.labels(__version__, platform.python_version()).set(1)
        self._process = ProcessMetrics() if process else None
        self._monotonic = monotonic
        self._process_read: tuple[float, bytes, bytes] | None = None  # (when, text, gzip)

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

    def _own(self) -> tuple[int, bytes, bytes]:
        changes = self._changes.count  # read first: a change while rendering renders again
        rendered = self._rendered
        if rendered is None or rendered[0] != changes:
            text = generate_latest(self.registry)
            rendered = self._rendered = (changes, text, gzip_member(text))
        return rendered

    def _process_metrics(self) -> tuple[float, bytes, bytes] | None:
        if self._process is None:
            return None
        now = self._monotonic()
        read = self._process_read
        if read is None or not 0 <= now - read[0] < PROCESS_MAX_AGE:
            text = self._process.render()
            read = self._process_read = (now, text, gzip_member(text))
        return read

    def render(self) -> bytes:
        """The exposition of the poller's own metrics, process metrics last."""
        text = self._own()[1]
        process = self._process_metrics()
        return text + process[1] if process else text

    def render_gzip(self) -> list[bytes]:
        """render() as gzip members, to be sent one after the other."""
        packed = self._own()[2]
        process = self._process_metrics()
        return [packed, process[2]] if process else [packed]
