"""loads_in_pieces, the big-response JSON reader, answers exactly as json.loads does."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from poller.client import loads_in_pieces

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=30,
)
# Responses are objects whose arrays (results, data) are what the reader splits.
responses = st.dictionaries(st.text(max_size=8), st.lists(values, max_size=6) | values, max_size=4)


def outcome(parse: object, body: bytes) -> tuple[str, object]:
    try:
        return "ok", parse(body)  # type: ignore[operator]
    except ValueError as err:
        return "error", (type(err).__name__, str(err))


@settings(max_examples=150, deadline=None)
@given(doc=responses, indent=st.sampled_from([None, 0, 2]), ascii_only=st.booleans())
def test_valid_documents_parse_identically(
    doc: object, indent: int | None, ascii_only: bool
) -> None:
    """Any JSON object, however spaced or escaped, decodes to what json.loads gives."""
    body = json.dumps(doc, indent=indent, ensure_ascii=ascii_only).encode()
    assert loads_in_pieces(body) == json.loads(body)


@settings(max_examples=150, deadline=None)
@given(doc=responses, cut=st.integers(min_value=0, max_value=400), junk=st.binary(max_size=4))
def test_broken_documents_fail_identically(doc: object, cut: int, junk: bytes) -> None:
    """A truncated or corrupted body gets json.loads' own error (type and message), or the same
    value when the damage still leaves valid JSON."""
    body = json.dumps(doc).encode()
    broken = body[: cut % (len(body) + 1)] + junk
    assert outcome(loads_in_pieces, broken) == outcome(json.loads, broken)


def test_non_finite_numbers_follow_json_loads() -> None:
    """NaN and Infinity, which Python's json accepts, come back the same way."""
    body = b'{"results": [NaN, Infinity, -Infinity, 1e999]}'
    got = loads_in_pieces(body)
    assert isinstance(got, dict)
    assert math.isnan(got["results"][0])
    assert got["results"][1:] == json.loads(body)["results"][1:]
