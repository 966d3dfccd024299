"""What the status page and /status.json show: each org's queries, its side of the API, its
names, and the poller itself.

Read from the daemon's own state only: never the series store, never waiting on a poll, so it
costs the same at 100k series as at ten. The JSON shape is documented in the README and stable:
`shape` goes up when a field changes meaning or goes away, never for a field added.
"""

from __future__ import annotations

import platform
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Final

from poller import __version__
from poller.checkreport import window_text
from poller.poll import QueryPoller

if TYPE_CHECKING:
    from poller.daemon import Daemon
    from poller.orgpolling import OrgPolling

SHAPE: Final = 1


def query_state(poller: QueryPoller, paused_until: float, now: float) -> str:
    """throttled: Genesys asked this org for no requests until later; stale: the data is older
    than stale_after (its series are gone); failing: the last poll failed; waiting: no poll has
    ended yet; ok: the last poll succeeded and the data is fresh."""
    state = poller.state
    if paused_until > now:
        return "throttled"
    if state.succeeded_once and poller.is_stale():
        return "stale"
    if state.failing:
        return "failing"
    if not state.succeeded_once:
        return "waiting"
    return "ok"


def collect(daemon: Daemon, now: float) -> dict[str, Any]:
    """The whole status as JSON-ready data, at `now` (Unix seconds)."""
    ok, at, message = daemon.last_reload
    return {
        "shape": SHAPE,
        "generated_at": now,
        "poller": {
            "version": __version__,
            "python": platform.python_version(),
            "config": daemon.config.source,
            "started_at": daemon.started_at,
            "last_reload": {"ok": ok, "at": at, "message": message},
            "shard": daemon.ownership().get("shard"),
        },
        "orgs": [_org(daemon, org, now) for org in daemon.orgs.values()],
    }


def _org(daemon: Daemon, org: OrgPolling, now: float) -> dict[str, Any]:
    client = org.client
    paused = client.paused_until()
    settings = org.config.genesys
    return {
        "name": org.name,
        "region": settings.region,
        "api_base_url": settings.api_base_url,
        "api": {
            "requests_last_minute": client.budget.sent_last_minute(),
            "requests_per_minute": settings.requests_per_minute,
            "paused_until": paused if paused > now else None,
            "token_expires_at": client.token_expires_at(),
            "answers": [
                {"minute": minute, "codes": codes} for minute, codes in client.recent_answers()
            ],
        },
        "names": [
            {**asdict(kind), "changes": [asdict(c) for c in kind.changes]}
            for kind in org.names.status()
        ],
        "queries": [_query(daemon, poller, paused, now) for poller in org.pollers.values()],
        "push": _push(org),
    }


def _push(org: OrgPolling) -> dict[str, Any] | None:
    """The org's push (None when off): the session's state and the queries it feeds."""
    status = org.push_status()
    if status is None or org.push is None:
        return None
    return {
        "state": status.state,
        "channels": [c._asdict() for c in status.channels],
        "topics": status.topics,
        "last_message": status.last_message,
        "last_reconnect": status.last_reconnect,
        "last_reconnect_reason": status.last_reconnect_reason,
        "forbidden": list(status.forbidden),
        "queries": [
            {
                "name": name,
                "metrics": sorted(pushed.feed.fed_metrics()),
                "in_step": pushed.polled and pushed.in_step,
            }
            for name, pushed in org.push.queries.items()
        ],
    }


def _query(daemon: Daemon, poller: QueryPoller, paused: float, now: float) -> dict[str, Any]:
    q, state = poller.query, poller.state
    failure = state.failure
    return {
        "name": q.name,
        "job": poller.key,
        "type": q.type,
        "mode": q.mode,
        "every": q.every,
        "window": window_text(q),
        "stale_after": q.stale_after_seconds,
        "state": query_state(poller, paused, now),
        "last_success": state.last_success if state.succeeded_once else None,
        "age": now - state.last_success if state.succeeded_once else None,
        "last_duration": state.last_duration,
        "series": state.series,
        "max_series": q.max_series,
        "next_run": daemon.next_run(poller.key),
        "error": None if failure is None else asdict(failure),
        "failing_now": state.failing,
    }
