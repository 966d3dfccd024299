"""The shapes of Genesys' flow query responses, as msgspec Structs (shared/genesys-api.md §2, §3).

Decoding into them is the shape check: a wrong type anywhere fails with the JSON path of the
place (`$.results[0].data[1].metrics[0].stats.count`). Fields we do not read are skipped, so
fields Genesys adds later change nothing. `gc=False`: a response is a tree of many small objects
with no cycles, which the cyclic collector would otherwise walk again and again.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Number = float  # JSON integers decode into float fields too
Name = Annotated[str, msgspec.Meta(min_length=1)]
Scalar = str | int | float | bool | None
# Group values are strings in every documented response; numbers, booleans and lists
# (multi-valued dimensions without flattenMultivaluedDimensions) are accepted all the same.
GroupValue = Scalar | list[Scalar]


class Stats(msgspec.Struct, gc=False):
    count: Number | None = None
    sum: Number | None = None
    max: Number | None = None
    min: Number | None = None


class MetricEntry(msgspec.Struct, gc=False):
    metric: Name
    stats: Stats | None = None
    qualifier: Scalar = None


class ViewEntry(msgspec.Struct, gc=False):
    name: Name
    stats: Stats | None = None


class Bucket(msgspec.Struct, gc=False):
    metrics: list[MetricEntry] | None = None
    views: list[ViewEntry] | None = None


class AggregateResult(msgspec.Struct, gc=False):
    group: dict[str, GroupValue] | None = None
    data: list[Bucket] | None = None


class AggregateResponse(msgspec.Struct, gc=False):
    results: list[AggregateResult] | None = None


class ObservationResult(msgspec.Struct, gc=False):
    group: dict[str, GroupValue] | None = None
    # An observation result's data entries are metrics, with no bucket level.
    data: list[MetricEntry] | None = None


class ObservationResponse(msgspec.Struct, gc=False):
    results: list[ObservationResult] | None = None
