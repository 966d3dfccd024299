"""A response of the wrong shape raises NormalizeError naming the position, so the log line says
where in the Genesys body the problem is."""

from __future__ import annotations

import json

import pytest

from poller.config.model import QueryType
from poller.digest import DigestJob, digest
from poller.errors import NormalizeError, PollerError


def bucket(*metrics: object) -> dict[str, object]:
    return {
        "interval": "2026-05-14T09:00:00.000Z/2026-05-14T09:30:00.000Z",
        "metrics": list(metrics),
    }


def aggregate(*buckets: object) -> dict[str, object]:
    return {"results": [{"group": {"flowId": "f1"}, "data": list(buckets)}]}


def message(kind: QueryType, response: object) -> str:
    with pytest.raises(NormalizeError) as caught:
        digest(DigestJob(kind, "q", json.dumps(response).encode(), 0.0))
    return str(caught.value)


def test_bad_count_names_its_position() -> None:
    """A string count in the second bucket is reported with its full path and the bad value."""
    response = aggregate(
        bucket({"metric": "nFlow", "stats": {"count": 1}}),
        bucket({"metric": "nFlow", "stats": {"count": "x"}}),
    )
    assert (
        message("aggregate", response)
        == "results[0].data[1].metrics[0].stats.count: Expected `float | null`, got `str`"
    )


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ([], "response: Expected `object`, got `array`"),
        ("oops", "response: Expected `object`, got `str`"),
        ({"results": {"a": 1}}, "results: Expected `array | null`, got `object`"),
        (
            {"results": [{"group": ["flowId"]}]},
            "results[0].group: Expected `object | null`, got `array`",
        ),
        ({"results": [{}, {"data": 3}]}, "results[1].data: Expected `array | null`, got `int`"),
        (aggregate(7), "results[0].data[0]: Expected `object`, got `int`"),
        (
            aggregate({"metrics": {}}),
            "results[0].data[0].metrics: Expected `array | null`, got `object`",
        ),
        (aggregate(bucket(5)), "results[0].data[0].metrics[0]: Expected `object`, got `int`"),
        (
            aggregate(bucket({"stats": {"count": 1}})),
            "results[0].data[0].metrics[0]: Object missing required field `metric`",
        ),
        (
            aggregate(bucket({"metric": "", "stats": {"count": 1}})),
            "results[0].data[0].metrics[0].metric: Expected `str` of length >= 1",
        ),
        (
            aggregate(bucket({"metric": "nFlow", "stats": [1]})),
            "results[0].data[0].metrics[0].stats: Expected `object | null`, got `array`",
        ),
        (
            aggregate(bucket({"metric": "tFlow", "stats": {"count": 1, "max": True}})),
            "results[0].data[0].metrics[0].stats.max: Expected `float | null`, got `bool`",
        ),
        (
            aggregate({"views": [{"name": "slow", "stats": {"sum": "1"}}]}),
            "results[0].data[0].views[0].stats.sum: Expected `float | null`, got `str`",
        ),
        (
            aggregate({"views": [{"stats": {"count": 1}}]}),
            "results[0].data[0].views[0]: Object missing required field `name`",
        ),
        (
            {"results": [{"group": {"flowId": "a", "flow_id": "b"}, "data": []}]},
            "results[0].group: keys 'flowId' and 'flow_id' both become label flow_id",
        ),
    ],
)
def test_aggregate_shape_errors_name_the_position(response: object, expected: str) -> None:
    """Each kind of misshapen aggregate response gives a message naming path and bad value."""
    assert message("aggregate", response) == expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            {"results": [{"data": [{"metric": "oFlow", "stats": {"count": False}}]}]},
            "results[0].data[0].stats.count: Expected `float | null`, got `bool`",
        ),
        (
            {"results": [{"data": [{"metric": "oFlow"}, "oFlow"]}]},
            "results[0].data[1]: Expected `object`, got `str`",
        ),
        (
            {"results": [{"data": [{"metric": ["oFlow"]}]}]},
            "results[0].data[0].metric: Expected `str`, got `array`",
        ),
    ],
)
def test_observation_shape_errors_name_the_position(response: object, expected: str) -> None:
    """Misshapen observation responses name the path (no metrics level: data[] are the metrics)."""
    assert message("observation", response) == expected


def test_integer_beyond_float_range_is_a_normalize_error() -> None:
    """A count too large for a float gives NormalizeError, not OverflowError."""
    response = aggregate(bucket({"metric": "nFlow", "stats": {"count": 10**400}}))
    assert message("aggregate", response) == (
        "results[0].data[0].metrics[0].stats.count: Number out of range"
    )


def test_bad_values_are_not_echoed() -> None:
    """A huge bad value is named by its type only, so one log line stays short and no data
    from the response is copied into it."""
    response = aggregate(bucket({"metric": "nFlow", "stats": {"count": "9" * 10_000}}))
    text = message("aggregate", response)
    assert text == "results[0].data[0].metrics[0].stats.count: Expected `float | null`, got `str`"


def test_invalid_json_is_a_normalize_error() -> None:
    """A 200 whose body is not JSON fails with a message saying so and the body's size."""
    for body in (b"{not json", b'{"results": [', b"\xff\xfe", b""):
        with pytest.raises(NormalizeError, match=rf"not valid JSON .*{len(body)} bytes\)"):
            digest(DigestJob("aggregate", "q", body, 0.0))


def test_normalize_error_is_a_poller_error() -> None:
    """Callers that catch PollerError also catch shape problems."""
    with pytest.raises(PollerError):
        digest(DigestJob("aggregate", "q", b'{"results": 1}', 0.0))


def observed(*dates: object) -> dict[str, object]:
    """An observation response whose second group lists executions entered at `dates`."""
    return {
        "results": [
            {"group": {"flowId": "f0"}, "data": [{"metric": "oFlow", "stats": {"count": 0}}]},
            {
                "group": {"flowId": "f1"},
                "data": [
                    {
                        "metric": "oFlow",
                        "stats": {"count": len(dates)},
                        "observations": [
                            {"observationDate": d, "conversationId": "c"} for d in dates
                        ],
                    }
                ],
            },
        ]
    }


@pytest.mark.parametrize(
    ("date", "shown"),
    [
        ("yesterday", "'yesterday'"),
        ("2026-05-14T09:41:07.512", "'2026-05-14T09:41:07.512'"),  # no zone: ambiguous
        ("2026-05-14", "'2026-05-14'"),
        ("2026-13-14T09:41:07Z", "'2026-13-14T09:41:07Z'"),
        ("x" * 80, repr("x" * 37 + "...")),
    ],
)
def test_malformed_observation_date_names_its_position(date: str, shown: str) -> None:
    """A malformed or zoneless observationDate is a NormalizeError naming its path and value."""
    assert message("observation", observed("2026-05-14T09:41:07.512Z", date)) == (
        "results[1].data[0].observations[1].observationDate: "
        f"expected an ISO-8601 date-time with a zone, got {shown}"
    )


@pytest.mark.parametrize(
    ("observation", "expected"),
    [
        ({"conversationId": "c"}, "Object missing required field `observationDate`"),
        ({"observationDate": 1778751667}, "Expected `str`, got `int`"),
    ],
)
def test_observation_without_a_date_string_names_its_position(
    observation: dict[str, object], expected: str
) -> None:
    """An observation without a string observationDate is reported at its position."""
    response = {"results": [{"data": [{"metric": "oFlow", "observations": [observation]}]}]}
    assert message("observation", response).startswith("results[0].data[0].observations[0]")
    assert expected in message("observation", response)
