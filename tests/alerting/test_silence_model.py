"""The silence model benchmark (tests/bench/bench_silence.py) computes the rule's expectation."""

from __future__ import annotations

import math

import numpy as np

from tests.bench.bench_silence import _expected


def test_expected_entries_are_the_window_times_the_hours_lower_rate() -> None:
    """At a steady 4 entries a minute, 13m30s expects 810 * (r - 1.5 sqrt(r / 3600)) entries: the
    hour's lower rate is below the 15 minutes' mean, so it is the one taken."""
    r = 4 / 60
    rate5m = np.full((1, 400), r)
    got = _expected(rate5m, 54)
    assert math.isnan(got[0, 53 + 60])
    assert math.isclose(got[0, 399], 810 * (r - 1.5 * math.sqrt(r / 3600)))


def test_a_recent_fall_in_traffic_is_judged_by_the_recent_rate() -> None:
    """After an hour at 60 entries a minute and 17 minutes at 6, a 1m window expects the recent
    6, not the hour's mean."""
    rate5m = np.concatenate([np.full((1, 240), 1.0), np.full((1, 70), 0.1)], axis=1)
    got = _expected(rate5m, 4)
    assert math.isclose(got[0, 309], 6.0)
