"""The detection model with push (tests/support/detection.py) and the silence model's ranges
that prove a scrape less (tests/bench/bench_silence.py): their arithmetic, worked by hand."""

from __future__ import annotations

import math

import numpy as np

from tests.bench.bench_silence import _expected_false_alarms
from tests.support.detection import (
    Intervals,
    history_needed,
    predicted,
    push_reach,
    silence_window,
)

# The shipped cadence (scrape and evaluation 15 s, group_wait 10 s for page), every query polled
# every 5 minutes, push on.
PUSH = Intervals(
    poll=300.0,
    milestone_poll=300.0,
    scrape=15.0,
    evaluation=15.0,
    group_wait={"default": 30.0, "page": 10.0},
    push=True,
)
POLLING = Intervals(
    poll=15.0,
    milestone_poll=30.0,
    scrape=15.0,
    evaluation=15.0,
    group_wait={"default": 30.0, "page": 10.0},
)
LAG = 2.0


def test_a_flow_of_one_entry_a_second_stops_and_is_notified_within_58_s_with_push() -> None:
    """60 a minute passes 26 in 30s (30 * (1 - 1.5 * sqrt(1 / 3600)) = 29.25): lag 2 + push 1 +
    the 30 s range + evaluation 15 + group_wait 10 = 58 s."""
    assert silence_window(1.0, push=True) == ("30s", 30, 26)
    assert predicted("stop", 1.0, PUSH, LAG) == 58.0


def test_a_flow_of_one_entry_every_5_s_waits_for_the_1m15s_window_with_push() -> None:
    """12 a minute expects 6 in 30 s, under 26: the 1m15s window, 2 + 1 + 75 + 15 + 10 = 103 s;
    polls every 15 s add the poll and a scrape instead of push: 75 + 15 + 15 + 15 + 10 + 2."""
    assert silence_window(0.2, push=True) == ("1m15s", 75, 13)
    assert predicted("stop", 0.2, PUSH, LAG) == 103.0
    assert predicted("stop", 0.2, POLLING, LAG) == 132.0


def test_every_outcome_failing_is_notified_within_a_minute_by_the_push_tier() -> None:
    """At one outcome a second, 35% of the 45 s a 1m range samples fail after 15.75 s (10
    failures by then): + lag 2 + push 1 + scrape 15 + evaluation 15 + group_wait 10."""
    assert predicted("fail", 1.0, PUSH, LAG) == 15.75 + 43


def test_the_push_tier_waits_for_its_10_failures_on_a_quieter_flow() -> None:
    """At 12 outcomes a minute the 10 failures take 50 s: 50 + 43 = 93 s."""
    assert math.isclose(predicted("fail", 0.2, PUSH, LAG) or 0.0, 93.0)


def test_push_reaches_a_minute_from_54_entries_and_36_outcomes_a_minute() -> None:
    """stop: the rate r whose hour's mean less 1.5 standard deviations, r - 1.5 sqrt(r / 3600),
    is 26 / 30; fail: 10 failures within the 60 - 43 = 17 s left, 10 / 17 a second."""
    reach = push_reach(PUSH, LAG)
    r = reach["stop"]
    assert math.isclose(r - 1.5 * math.sqrt(r / 3600), 26 / 30)
    assert 53 < r * 60 < 54
    assert math.isclose(reach["fail"], 10 / 17)
    assert predicted("stop", r * 1.001, PUSH, LAG) == 58.0
    assert (predicted("fail", reach["fail"], PUSH, LAG) or 0.0) <= 60.0


def test_push_rules_need_their_window_and_5_minutes_of_history_first() -> None:
    """The 30s window's baseline: 30 + 300 + 60 s; the push tier: its 1m15s of push."""
    assert history_needed("stop", 1.0, push=True) == 390.0
    assert history_needed("fail", 1.0, push=True) == 75.0


def test_a_silence_is_expected_to_begin_once_per_entry_that_is_followed_by_one() -> None:
    """One step of 15 s at 0.5 entries a step, armed at every step: each step begins a
    one-step silence with probability (1 - e^-0.5) * e^-0.5."""
    per_step = np.full((1, 10), 0.5)
    armed = np.ones((1, 10), bool)
    got = _expected_false_alarms(armed, per_step, 1)
    assert math.isclose(got, 9 * (1 - math.exp(-0.5)) * math.exp(-0.5))
