"""A simulated day of normal traffic for the org's 50 flows through the shipped rules, generated
from the simulator's engine: no alert of any kind fires (tests/alerting/week.py). The whole
week runs in the benchmark (`python -m tests.bench --only alerts`): promtool needs minutes per
simulated day with the shipped rules, more than the test tier can spend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.alerting import week

pytestmark = pytest.mark.e2e

# Which days of the week the test tier runs (0 = Monday): a weekday, whose traffic is the
# busiest. The benchmark runs all seven.
DAYS = (2,)


def test_a_day_of_normal_traffic_fires_no_alert(tmp_path: Path) -> None:
    """Wednesday's traffic (from the counters' period start, warm-up included, through the
    rules' lookback into Thursday) for 50 flows from ~2 an hour to ~3 a second: promtool finds
    the flows' series and no firing alert at any evaluation."""
    result = week.run_week(tmp_path, days=len(DAYS), first=DAYS[0])
    assert result.ok, result.failures()
