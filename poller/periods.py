"""The calendar periods a counter query counts over, and the one it shows at a given moment.
Pure: `now` comes in as an argument.

A period of 1d runs from midnight to midnight in the query's time zone, so a DST day is 23 h or
25 h long. A shorter period divides 24h and is laid from local midnight in elapsed time; where a
day is not a whole number of periods (a DST day with 24m periods, say) the day's last period
ends early, at the next midnight, and the next day starts afresh.

Which period a counter shows: the current one from `settle` after its start on; before that the
previous (closed) one, which keeps growing while late data arrives. The choice depends only on
`now`, so a restarted daemon asks for the same period as the one it replaced.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from poller.config.model import DAY_SECONDS, QueryConfig
from poller.windows import iso, local_midnight, utc_ms

_MS = timedelta(milliseconds=1)


def period_at(moment: datetime, period: float, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the period (`period` seconds, aligned to midnight in `zone`) that holds
    `moment` (UTC)."""
    day_start = local_midnight(moment, zone)
    next_day = local_midnight(day_start + timedelta(hours=26), zone)
    if period >= DAY_SECONDS:
        return day_start, next_day
    step = timedelta(seconds=period)
    start = day_start + step * ((moment - day_start) // step)
    return start, min(start + step, next_day)


def shown_period(query: QueryConfig, now: float) -> tuple[datetime, datetime, bool]:
    """(start, end, settling) of the period a counter query shows at `now`: the current one,
    or the previous one while it settles. `end` is the period's, even if in the future."""
    zone = ZoneInfo(query.time_zone)
    moment = utc_ms(now)
    start, end = period_at(moment, query.period, zone)
    if moment < start + timedelta(seconds=query.settle):
        previous_start, _ = period_at(start - _MS, query.period, zone)
        return previous_start, start, True
    return start, end, False


def counter_interval(query: QueryConfig, now: float) -> str:
    """The `start/end` a counter query asks for at `now`: the whole closed period while it
    settles, else its current period up to `now` (in whole milliseconds)."""
    start, end, settling = shown_period(query, now)
    if not settling:
        end = utc_ms(now)
    return f"{iso(start)}/{iso(end)}"
