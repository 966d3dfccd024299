"""What the simulator was asked, so tests and benchmarks can check a client's manners."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from poller.simulator.contract import AGGREGATE_PATH, OBSERVATION_PATH

ANALYTICS_PATHS: tuple[str, ...] = (AGGREGATE_PATH, OBSERVATION_PATH)
RESET_STATUS = 0  # the connection was closed without a response


@dataclass(frozen=True, slots=True)
class RequestRecord:
    at: float  # the simulator clock when the request arrived
    path: str
    status: int  # 0 for a connection reset
    client_id: str | None  # known once the token (or Basic credentials) checked out
    retry_after: int | None = None  # on 429s


class SimulatorStats:
    """Counts per path and status, plus the latest requests with their times and clients."""

    def __init__(self, keep: int = 200_000) -> None:
        self.counts: dict[str, dict[int, int]] = {}
        self.records: deque[RequestRecord] = deque(maxlen=keep)

    def record(self, item: RequestRecord) -> None:
        by_status = self.counts.setdefault(item.path, {})
        by_status[item.status] = by_status.get(item.status, 0) + 1
        self.records.append(item)

    def reset(self) -> None:
        self.counts.clear()
        self.records.clear()

    def count(self, path: str | None = None, status: int | None = None) -> int:
        return sum(
            n
            for p, by_status in self.counts.items()
            if path is None or p == path
            for s, n in by_status.items()
            if status is None or s == status
        )

    def requests(
        self, client_id: str | None = None, paths: Iterable[str] = ANALYTICS_PATHS
    ) -> list[RequestRecord]:
        """Requests to `paths` (both analytics endpoints by default) by one or any client."""
        wanted = set(paths)
        return [
            r
            for r in self.records
            if r.path in wanted and (client_id is None or r.client_id == client_id)
        ]

    def times(self, client_id: str | None = None) -> list[float]:
        """Arrival times of the analytics requests of one client (or all)."""
        return [r.at for r in self.requests(client_id)]

    def max_in_window(self, client_id: str | None = None, window: float = 60.0) -> int:
        """The most analytics requests that arrived within any `window` seconds."""
        times = sorted(self.times(client_id))
        best = 0
        first = 0
        for last, at in enumerate(times):
            while at - times[first] >= window:
                first += 1
            best = max(best, last - first + 1)
        return best

    def sent_during_pause(self, client_id: str | None = None) -> list[RequestRecord]:
        """Analytics requests that arrived while an earlier 429's Retry-After was running."""
        out = []
        pause_until: dict[str | None, float] = {}
        for r in self.requests(client_id):
            if r.at < pause_until.get(r.client_id, float("-inf")):
                out.append(r)
            if r.status == 429 and r.retry_after is not None:
                pause_until[r.client_id] = max(
                    pause_until.get(r.client_id, float("-inf")), r.at + r.retry_after
                )
        return out

    def to_json(self) -> dict[str, object]:
        clients: dict[str, list[float]] = {}
        for r in self.requests():
            if r.client_id is not None:
                clients.setdefault(r.client_id, []).append(r.at)
        return {
            "requests": {
                path: {str(s): n for s, n in sorted(by.items())}
                for path, by in sorted(self.counts.items())
            },
            "clients": {
                client: {
                    "requests": len(times),
                    "max_per_minute": self.max_in_window(client),
                    "sent_during_429_pause": len(self.sent_during_pause(client)),
                    "timestamps": times,
                }
                for client, times in sorted(clients.items())
            },
        }
