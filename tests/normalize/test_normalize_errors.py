"""A response of the wrong shape raises NormalizeError naming the position, so the log line says
where in the Genesys body the problem is."""

from __future__ import annotations

import pytest

from poller.errors import NormalizeError, PollerError
from poller.normalize import normalize_aggregate, normalize_observation


def bucket(*metrics: object) -> dict[str, object]:
    return {
        "interval": "2026-05-14T09:00:00.000Z/2026-05-14T09:30:00.000Z",
        "metrics": list(metrics),
    }


def aggregate(*buckets: object) -> dict[str, object]:
    return {"results": [{"group": {"flowId": "f1"}, "data": list(buckets)}]}


def message(kind: str, response: object) -> str:
    normalize = normalize_aggregate if kind == "aggregate" else normalize_observation
    with pytest.raises(NormalizeError) as caught:
        normalize("q", response)
    return str(caught.value)


def test_bad_count_names_its_position() -> None:
    """A string count in the second bucket is reported with its full path and the bad value."""
    response = aggregate(
        bucket({"metric": "nFlow", "stats": {"count": 1}}),
        bucket({"metric": "nFlow", "stats": {"count": "x"}}),
    )
    assert (
        message("aggregate", response)
        == "results[0].data[1].metrics[0].stats.count: expected a number, got 'x'"
    )


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ([], "response: expected an object, got an array"),
        ("oops", "response: expected an object, got 'oops'"),
        ({"results": {"a": 1}}, "results: expected a list, got an object"),
        (
            {"results": [{"group": ["flowId"]}]},
            "results[0].group: expected an object, got an array",
        ),
        ({"results": [{}, {"data": 3}]}, "results[1].data: expected a list, got 3"),
        (aggregate(7), "results[0].data[0]: expected an object, got 7"),
        (aggregate({"metrics": {}}), "results[0].data[0].metrics: expected a list, got an object"),
        (aggregate(bucket(5)), "results[0].data[0].metrics[0]: expected an object, got 5"),
        (
            aggregate(bucket({"stats": {"count": 1}})),
            "results[0].data[0].metrics[0].metric: expected a metric name, got null",
        ),
        (
            aggregate(bucket({"metric": "", "stats": {"count": 1}})),
            "results[0].data[0].metrics[0].metric: expected a metric name, got ''",
        ),
        (
            aggregate(bucket({"metric": "nFlow", "stats": [1]})),
            "results[0].data[0].metrics[0].stats: expected an object, got an array",
        ),
        (
            aggregate(bucket({"metric": "tFlow", "stats": {"count": 1, "max": True}})),
            "results[0].data[0].metrics[0].stats.max: expected a number, got true",
        ),
        (
            aggregate({"views": [{"name": "slow", "stats": {"sum": "1"}}]}),
            "results[0].data[0].views[0].stats.sum: expected a number, got '1'",
        ),
        (
            aggregate({"views": [{"stats": {"count": 1}}]}),
            "results[0].data[0].views[0].name: expected a view name, got null",
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
            "results[0].data[0].stats.count: expected a number, got false",
        ),
        (
            {"results": [{"data": [{"metric": "oFlow"}, "oFlow"]}]},
            "results[0].data[1]: expected an object, got 'oFlow'",
        ),
        (
            {"results": [{"data": [{"metric": ["oFlow"]}]}]},
            "results[0].data[0].metric: expected a metric name, got an array",
        ),
    ],
)
def test_observation_shape_errors_name_the_position(response: object, expected: str) -> None:
    """Misshapen observation responses name the path (no metrics level: data[] are the metrics)."""
    assert message("observation", response) == expected


def test_integer_beyond_float_range_is_a_normalize_error() -> None:
    """A count too large for a float gives NormalizeError, not OverflowError."""
    response = aggregate(bucket({"metric": "nFlow", "stats": {"count": 10**400}}))
    text = message("aggregate", response)
    assert text.startswith(
        "results[0].data[0].metrics[0].stats.count: expected a number within float range, got 1000"
    )


def test_long_bad_values_are_cut_short() -> None:
    """A huge bad value is shown cut to 80 characters, so one log line stays readable."""
    response = aggregate(bucket({"metric": "nFlow", "stats": {"count": "9" * 10_000}}))
    text = message("aggregate", response)
    prefix = "results[0].data[0].metrics[0].stats.count: expected a number, got "
    assert text == prefix + "'" + "9" * 79


def test_normalize_error_is_a_poller_error() -> None:
    """Callers that catch PollerError also catch shape problems."""
    with pytest.raises(PollerError):
        normalize_aggregate("q", {"results": 1})
