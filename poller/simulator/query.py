"""Validated analytics queries, as the engine consumes them, and filter evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Predicate:
    dimension: str
    operator: str  # matches | exists | notExists
    value: str | None = None
    range: tuple[tuple[str, float], ...] = ()  # (gt|gte|lt|lte, bound)

    def test(self, dims: Mapping[str, str]) -> bool:
        got = dims.get(self.dimension)
        if self.operator == "exists":
            return got is not None
        if self.operator == "notExists":
            return got is None
        if got is None:
            return False
        if self.value is not None and got != self.value:
            return False
        if not self.range:
            return True
        try:
            number = float(got)
        except ValueError:
            return False
        return all(_in_range(number, op, bound) for op, bound in self.range)


def _in_range(number: float, op: str, bound: float) -> bool:
    if op == "gt":
        return number > bound
    if op == "gte":
        return number >= bound
    if op == "lt":
        return number < bound
    return number <= bound


@dataclass(frozen=True, slots=True)
class Filter:
    type: str  # and | or
    predicates: tuple[Predicate, ...] = ()
    clauses: tuple[Filter, ...] = ()

    def test(self, dims: Mapping[str, str]) -> bool:
        results = [p.test(dims) for p in self.predicates]
        results.extend(c.test(dims) for c in self.clauses)
        return all(results) if self.type == "and" else any(results)


@dataclass(frozen=True, slots=True)
class ViewSpec:
    name: str
    target: str
    gte: float | None
    lt: float | None

    def holds(self, value: int) -> bool:
        return (self.gte is None or value >= self.gte) and (self.lt is None or value < self.lt)


@dataclass(frozen=True, slots=True)
class AggregateQuery:
    bounds: tuple[int, ...]  # bucket boundaries, ms since the epoch; len = buckets + 1
    metrics: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    filter: Filter | None = None
    views: tuple[ViewSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class ObservationQuery:
    filter: Filter
    metrics: tuple[str, ...]
    details: bool = False
