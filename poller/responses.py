"""The shapes of Genesys' flow query responses, as msgspec Structs (shared/genesys-api.md §2, §3),
and their decoding.

Decoding into them is the shape check: a wrong type anywhere fails with the JSON path of the
place (`$.results[0].data[1].metrics[0].stats.count`). Fields we do not read are skipped, so
fields Genesys adds later change nothing. `gc=False`: a response is a tree of many small objects
with no cycles, which the cyclic collector would otherwise walk again and again.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import TYPE_CHECKING, Annotated, Any, cast

import msgspec

from poller.errors import NormalizeError

if TYPE_CHECKING:
    # Only a type here: importing poller.config at run time would import this module back
    # (config -> familytypes -> counters -> normalize -> responses).
    from poller.config.model import QueryType

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
    # "start/end", ISO-8601: the bucket's part of the query's interval (its granularity's step).
    interval: str | None = None
    metrics: list[MetricEntry] | None = None
    views: list[ViewEntry] | None = None


class AggregateResult(msgspec.Struct, gc=False):
    group: dict[str, GroupValue] | None = None
    data: list[Bucket] | None = None


class AggregateResponse(msgspec.Struct, gc=False):
    results: list[AggregateResult] | None = None


class Observation(msgspec.Struct, gc=False):
    """One execution in a flow (`detailMetrics`). Its conversationId and sessionId are skipped:
    they never become labels."""

    # Entry into the flow, ISO-8601 (2026-05-14T09:41:07.512Z); parsed by the normalizer,
    # which names the place of a malformed one.
    date: str = msgspec.field(name="observationDate")


class ObservationEntry(MetricEntry, gc=False):
    # Present only when the query asked for `detailMetrics`. A truncated list keeps the oldest
    # half and the newest half, sorted oldest first (shared/genesys-api.md §3.2, §10).
    truncated: bool | None = None
    observations: list[Observation] | None = None


class ObservationResult(msgspec.Struct, gc=False):
    group: dict[str, GroupValue] | None = None
    # An observation result's data entries are metrics, with no bucket level.
    data: list[ObservationEntry] | None = None


class ObservationResponse(msgspec.Struct, gc=False):
    results: list[ObservationResult] | None = None


Response = AggregateResponse | ObservationResponse
_AGGREGATE = msgspec.json.Decoder(AggregateResponse)
_OBSERVATION = msgspec.json.Decoder(ObservationResponse)
_SURROGATES = re.compile("[\ud800-\udfff]")


def _where(error: msgspec.ValidationError) -> str:
    """msgspec's `Expected ... - at `$.a[0].b`` as `a[0].b: Expected ...`."""
    text = str(error)
    message, sep, path = text.rpartition(" - at `$")
    if not sep:
        return f"response: {text}"
    return f"{path.rstrip('`').lstrip('.')}: {message}"


def _with_lone_surrogates_replaced(body: bytes) -> bytes | None:
    """`body` with lone surrogate escapes ("\\ud800") as U+FFFD, or None if it is not JSON.

    JSON's grammar allows them and Java-based services emit them (a name cut in the middle of
    an emoji); msgspec, rightly, refuses text that is not Unicode. One odd flow name must not
    cost a whole query its data, so such a body is read again the lenient way."""
    try:
        text = json.dumps(json.loads(body), ensure_ascii=False)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return _SURROGATES.sub("\ufffd", text).encode()


def _typed(decoder: msgspec.json.Decoder[Any], body: bytes) -> Response:
    try:
        return cast(Response, decoder.decode(body))
    except msgspec.ValidationError as err:  # valid JSON of the wrong shape
        raise NormalizeError(_where(err)) from None


def decode(kind: QueryType, body: bytes) -> Response:
    """The typed response, or NormalizeError naming where its shape is wrong."""
    decoder: msgspec.json.Decoder[Any] = _OBSERVATION if kind == "observation" else _AGGREGATE
    try:
        return _typed(decoder, body)
    except msgspec.DecodeError as err:
        mended = _with_lone_surrogates_replaced(body) if b"\\u" in body else None
        if mended is not None:
            with contextlib.suppress(msgspec.DecodeError):
                return _typed(decoder, mended)
        raise NormalizeError(f"response is not valid JSON ({err}, {len(body)} bytes)") from None
