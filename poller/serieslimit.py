"""A query's `max_series`: the one place a poll's series are counted against it, as Prometheus'
`sample_limit` counts a scrape's samples.

Checked on the normalized snapshot, before it is rendered: the series are known there, and a
refused result costs no rendering. A refusal names the group_by dimension with the most
distinct values, the one whose removal (or filter) shrinks the result most.
"""

from __future__ import annotations

from collections.abc import Iterable

from poller.errors import PollerError
from poller.normalize import Labels, Snapshot, label_name


class SeriesLimitError(PollerError):
    """A poll's result has more series than the query's max_series; the poll fails."""

    def __init__(self, series: int, limit: int, dimension: str | None, distinct: int) -> None:
        self.series = series
        self.limit = limit
        self.dimension = dimension  # the group_by dimension to drop; None without group_by
        self.distinct = distinct  # its distinct values in the result
        if dimension is None:
            fix = "filter the query or raise max_series"
        else:
            fix = (
                f"drop group_by dimension {dimension} ({distinct} distinct values), "
                "filter it, or raise max_series"
            )
        super().__init__(f"{series} series, more than max_series {limit}; {fix}")

    def __reduce__(self) -> tuple[type[SeriesLimitError], tuple[int, int, str | None, int]]:
        # Raised in the worker process too: it crosses the pipe as a pickle.
        return (type(self), (self.series, self.limit, self.dimension, self.distinct))


def series_count(snapshot: Snapshot) -> int:
    """The series the snapshot publishes: one per sample line, as the store counts them."""
    return sum(map(len, snapshot.values.values())) + sum(map(len, snapshot.samples.values()))


def check_series_limit(snapshot: Snapshot, limit: int, group_by: tuple[str, ...]) -> None:
    """Raise SeriesLimitError when `snapshot` has more than `limit` series."""
    series = series_count(snapshot)
    if series <= limit:
        return
    dimension, distinct = widest_dimension(_label_sets(snapshot), group_by)
    raise SeriesLimitError(series, limit, dimension, distinct)


def widest_dimension(
    label_sets: Iterable[Labels], group_by: tuple[str, ...]
) -> tuple[str | None, int]:
    """The group_by dimension with the most distinct values among `label_sets`, and how many
    (the first in group_by order on a tie); (None, 0) without group_by."""
    labels = {label_name(dimension): dimension for dimension in group_by}
    values: dict[str, set[str]] = {dimension: set() for dimension in group_by}
    for label_set in label_sets:
        for name, value in label_set:
            dimension = labels.get(name)
            if dimension is not None:
                values[dimension].add(value)
    if not group_by:
        return None, 0
    widest = max(group_by, key=lambda dimension: len(values[dimension]))
    return widest, len(values[widest])


def _label_sets(snapshot: Snapshot) -> Iterable[Labels]:
    for series in snapshot.values.values():
        yield from series
    for samples in snapshot.samples.values():
        for _, labels, _ in samples:
            yield labels
