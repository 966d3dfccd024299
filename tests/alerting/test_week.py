"""A simulated day of normal traffic through the shipped rules, generated from the simulator's
engine: no alert of any kind fires (tests/alerting/week.py).

The test tier runs a weekday for a quarter of the org's flows, spread over the whole volume
range (every 4th by volume: 13 flows from ~160 a minute to ~2 an hour), in two parallel tests.
promtool's cost grows with series x rules x evaluations: with the shipped rules a day of all 50
flows takes ~17 minutes of CPU, more than the tier can spend. The whole week for all 50 flows
runs in the benchmark (`python -m tests.bench --only alerts`, through `week.run_week`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.alerting import week

pytestmark = pytest.mark.e2e

DAY = 2  # Wednesday: a weekday, whose traffic is the busiest
EVERY = 4  # every 4th flow by volume
GROUPS = 2  # tests run in parallel, one per core


def test_a_day_of_normal_traffic_fires_no_alert(tmp_path: Path) -> None:
    """Wednesday's traffic (from the counters' period start, warm-up included, through the
    rules' lookback into Thursday) for flows across the volume range: promtool finds the flows'
    series and no firing alert at any evaluation."""
    flows = week.by_volume(every=EVERY)
    result = week.run_week(tmp_path, days=1, first=DAY, subset=flows, groups=GROUPS)
    assert result.ok, result.failures()
