"""Property tests: whatever Genesys sends, the normalizer either names the problem
(NormalizeError) or produces samples that render to an exposition Prometheus can parse, with
label values that survive the round trip exactly."""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poller.catalog import AGGREGATE_METRICS, GROUP_BY_DIMENSIONS
from poller.config.model import QueryType
from poller.digest import DigestJob, digest
from poller.errors import NormalizeError
from poller.render import format_value
from poller.store import SnapshotStore
from tests.normalize.normalize_support import encoded, exposition
from tests.support.exposition import samples
from tests.support.tools import require_tool

FAST = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
INTERVAL = "2026-05-14T09:00:00.000Z/2026-05-14T09:30:00.000Z"
KINDS = ("aggregate", "observation")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

# Characters the exposition format has to escape or could trip over, mixed into arbitrary text.
NASTY = st.sampled_from(
    ['"', "\\", "\n", "\r", "\t", "{", "}", "=", ",", "#", " ", "\x00", "\u2028"]
)
label_text = st.text(st.characters(codec="utf-8") | NASTY, max_size=24)

json_keys = st.sampled_from(
    [
        *("results", "group", "data", "metrics", "views", "metric", "name", "stats"),
        *("qualifier", "count", "sum", "max", "min", "truncated", "observations", "flowId"),
    ]
) | st.text(max_size=6)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_keys, inner, max_size=4),
    max_leaves=30,
)

numbers = st.integers(0, 10**12) | st.floats(0, 1e12)
stats = st.fixed_dictionaries(
    {}, optional={"count": st.integers(0, 10**9), "sum": numbers, "max": numbers, "min": numbers}
)
metric_names = st.sampled_from([*AGGREGATE_METRICS, "oFlow", "nOutOfThinAir", "tFooBar"]) | (
    st.text(min_size=1, max_size=12)
)
metric_entry = st.fixed_dictionaries(
    {"metric": metric_names},
    optional={"qualifier": st.none() | label_text, "stats": stats},
)
view_entry = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=12)}, optional={"stats": stats}
)
group = st.dictionaries(
    st.sampled_from(GROUP_BY_DIMENSIONS),
    label_text | st.lists(label_text, max_size=3) | st.integers() | st.booleans() | st.none(),
    max_size=3,
)
bucket = st.fixed_dictionaries(
    {},
    optional={
        "interval": st.just(INTERVAL),
        "metrics": st.lists(metric_entry, max_size=4),
        "views": st.lists(view_entry, max_size=2),
    },
)
observation_dates = st.datetimes(
    datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
observation_entry = st.fixed_dictionaries(
    {"metric": metric_names},
    optional={
        "qualifier": st.none() | label_text,
        "stats": stats,
        "truncated": st.booleans(),
        "observations": st.lists(st.fixed_dictionaries({"observationDate": observation_dates})),
    },
)


def responses(entry: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    container = st.fixed_dictionaries(
        {}, optional={"group": group, "data": st.lists(entry, max_size=3)}
    )
    return st.fixed_dictionaries({}, optional={"results": st.lists(container, max_size=3)})


aggregate_responses = responses(bucket)
observation_responses = responses(observation_entry)


def assert_renders(kind: QueryType, response: object) -> None:
    """The response digests and publishes, and the body parses back to exactly its series."""
    families = digest(DigestJob(kind, "q", encoded(response), 0.0))
    store = SnapshotStore()
    series = store.commit(store.prepare("q", families, 0.0))
    parsed = samples(b"".join(store.exposition().plain))
    assert len(parsed) == series == sum(f.series for f in families.values())


def check(kind: QueryType, response: object) -> None:
    try:
        assert_renders(kind, response)
    except NormalizeError:
        return


def paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every position inside a JSON value, the root included."""
    out: list[tuple[object, ...]] = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def replaced(value: Any, path: tuple[Any, ...], new: object) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = replaced(copy[head], rest, new)
    return copy


@FAST
@given(flow_id=label_text, media_type=label_text, qualifier=label_text, query=label_text)
def test_label_values_round_trip(flow_id: str, media_type: str, qualifier: str, query: str) -> None:
    """Any unicode label value, quotes, backslashes and newlines included, parses back exactly."""
    response = {
        "results": [
            {
                "group": {"flowId": flow_id, "mediaType": media_type},
                "data": [
                    {
                        "metrics": [
                            {"metric": "nFlow", "qualifier": qualifier, "stats": {"count": 1}}
                        ]
                    }
                ],
            }
        ]
    }
    expected = {"query": query, "flow_id": flow_id, "media_type": media_type}
    if qualifier:
        expected["qualifier"] = qualifier
    parsed = samples(exposition("aggregate", query, response))
    assert parsed == [("genesyscloud_flow_entries", expected, 1.0)]


@FAST
@given(keys=st.lists(st.text(max_size=12), min_size=1, max_size=4, unique=True))
def test_arbitrary_group_keys_make_valid_label_names(keys: list[str]) -> None:
    """Any group keys become valid, distinct label names, or a NormalizeError names the clash."""
    response = {
        "results": [
            {
                "group": dict.fromkeys(keys, "v"),
                "data": [{"metrics": [{"metric": "nFlow", "stats": {"count": 1}}]}],
            }
        ]
    }
    try:
        body, error = exposition("aggregate", "q", response), ""
    except NormalizeError as e:
        body, error = b"", str(e)
    if error:
        assert error.startswith("results[0].group: keys ")
        return
    [(_, labels, _)] = samples(body)
    assert len(labels) == len(keys) + 1
    for name in labels:
        assert LABEL_NAME.fullmatch(name), name
        assert not name.startswith("__"), name


def test_nasty_label_values_pass_promtool() -> None:
    """Every ASCII character and some astral unicode in label values still pass promtool."""
    promtool = require_tool("promtool")
    values = {f"d{i}": f"x{chr(i)}y" for i in range(1, 128)}
    values["d0"] = "nul\x00 emoji \U0001f600 rtl \u202e ls \u2028 bom \ufeff"
    response = {
        "results": [
            {
                "group": values,
                "data": [
                    {"metrics": [{"metric": "nFlow", "qualifier": '"\\\n', "stats": {"count": 1}}]}
                ],
            }
        ]
    }
    body = exposition("aggregate", 'q"\\\n', response)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    [(_, labels, _)] = samples(body)
    assert (labels["d34"], labels["d92"], labels["d10"]) == ('x"y', "x\\y", "x\ny")


def test_lone_surrogates_become_replacement_characters() -> None:
    """Lone surrogate escapes from the API (group, qualifier, metric, view) still render."""
    response = {
        "results": [
            {
                "group": {"flowId": "a\ud800b", "mediaType": ["\udfff"]},
                "data": [
                    {
                        "metrics": [
                            {"metric": "nNew\udc00", "qualifier": "\ud83d", "stats": {"count": 2}}
                        ],
                        "views": [{"name": "v\ud800", "stats": {"sum": 1000}}],
                    }
                ],
            }
        ]
    }
    body = exposition("aggregate", "q", response)
    labels = {"query": "q", "flow_id": "a\ufffdb", "media_type": "\ufffd"}
    assert sorted(samples(body)) == [
        ("genesyscloud_flow_n_new_", {**labels, "qualifier": "\ufffd"}, 2.0),
        ("genesyscloud_flow_view_v__sum_seconds", labels, 1.0),
    ]
    assert "Genesys Cloud metric nNew\ufffd" in body.decode()


@FAST
@given(kind=st.sampled_from(KINDS), response=json_values)
def test_arbitrary_json_raises_only_normalize_error(kind: QueryType, response: object) -> None:
    """Arbitrary JSON either raises NormalizeError or yields a snapshot that renders and parses."""
    check(kind, response)


@FAST
@given(kind=st.sampled_from(KINDS), response=st.dictionaries(json_keys, json_values, max_size=3))
def test_arbitrary_objects_with_results_key_raise_only_normalize_error(
    kind: QueryType, response: object
) -> None:
    """Arbitrary objects (results key often present) only fail with NormalizeError."""
    check(kind, {"results": [response]})


@FAST
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_mutated_responses_raise_only_normalize_error(kind: QueryType, data: st.DataObject) -> None:
    """A valid response with any one value replaced by arbitrary JSON fails only with
    NormalizeError, or still renders to a parseable exposition."""
    base = data.draw(aggregate_responses if kind == "aggregate" else observation_responses)
    where = data.draw(st.sampled_from(paths(base)))
    check(kind, replaced(base, where, data.draw(json_values)))


@FAST
@given(response=aggregate_responses)
def test_valid_aggregate_responses_always_render(response: dict[str, Any]) -> None:
    """Any response of the documented aggregate shape normalizes without error and renders."""
    assert_renders("aggregate", response)


@FAST
@given(response=observation_responses)
def test_valid_observation_responses_always_render(response: dict[str, Any]) -> None:
    """Any response of the documented observation shape normalizes without error and renders."""
    assert_renders("observation", response)


timer_stats = st.fixed_dictionaries(
    {},
    optional={
        "count": st.integers(0, 10**6),
        "sum": st.integers(0, 10**12),
        "max": st.integers(0, 10**9),
        "min": st.integers(0, 10**9),
    },
)
merge_bucket = st.fixed_dictionaries(
    {}, optional={"nFlow": st.integers(0, 10**6), "tFlow": timer_stats}
)


@FAST
@given(buckets=st.lists(merge_bucket, max_size=6), data=st.data())
def test_buckets_merge_over_the_window(buckets: list[dict[str, Any]], data: st.DataObject) -> None:
    """Counts and sums add, max and min take the extreme, in any bucket order."""

    def response(bs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "results": [
                {
                    "group": {"flowId": "f"},
                    "data": [
                        {
                            "metrics": [
                                {"metric": m, "stats": s if m == "tFlow" else {"count": s}}
                                for m, s in b.items()
                            ]
                        }
                        for b in bs
                    ],
                }
            ]
        }

    def gather(metric: str, key: str) -> list[int]:
        return [
            (b[metric] if metric == "nFlow" else b[metric][key])
            for b in buckets
            if metric in b and (metric == "nFlow" or key in b[metric])
        ]

    expected: dict[str, float] = {}
    cases: list[tuple[str, str, str, Callable[[list[int]], int], int]] = [
        ("entries", "nFlow", "count", sum, 1),
        ("duration_measurements", "tFlow", "count", sum, 1),
        ("duration_sum_seconds", "tFlow", "sum", sum, 1000),
        ("duration_max_seconds", "tFlow", "max", max, 1000),
        ("duration_min_seconds", "tFlow", "min", min, 1000),
    ]
    for family, metric, key, merge, scale in cases:
        values = gather(metric, key)
        if values:
            expected["genesyscloud_flow_" + family] = merge(values) / scale

    body = exposition("aggregate", "q", response(buckets))
    got = {name: value for name, _, value in samples(body)}
    assert got == expected
    shuffled = data.draw(st.permutations(buckets))
    assert exposition("aggregate", "q", response(shuffled)) == body


def test_non_finite_numbers_are_a_normalize_error() -> None:
    """NaN (not JSON) and numbers beyond float range fail with a message, never render."""
    nan = b'{"results": [{"data": [{"metrics": [{"metric": "nFlow", "stats": {"count": NaN}}]}]}]}'
    with pytest.raises(NormalizeError, match="not valid JSON"):
        digest(DigestJob("aggregate", "q", nan, 0.0))
    huge = nan.replace(b"NaN", b"1e400")
    with pytest.raises(NormalizeError, match=r"stats.count: Number out of range"):
        digest(DigestJob("aggregate", "q", huge, 0.0))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (12.0, "12"),
        (0.5, "0.5"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e+16"),
        (-3.0, "-3"),
    ],
)
def test_values_are_formatted_as_the_text_format_wants(value: float, text: str) -> None:
    """Whole numbers without a fraction, others as repr, non-finite as NaN/+Inf/-Inf."""
    assert format_value(value) == text
