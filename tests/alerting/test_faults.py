"""Every flow fault at four times of day on flows of each volume class, through the shipped
rules, generated from the simulator's engine: the expected alert fires by its target, and
nothing fires elsewhere (tests/alerting/faults.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.alerting import faults

pytestmark = pytest.mark.e2e


def test_each_fault_fires_its_alert_by_its_target_and_nothing_else(tmp_path: Path) -> None:
    """stop, fail, hangup, slow and milestone-drop at 03:00, 10:00, 14:00 and 20:00 UTC on a
    Wednesday, each on the quietest flow of each detectable class (>= 1 entry per 5 s, >= 1 a
    minute) and on a flow with a few entries an hour: promtool sees each expected alert firing
    by its target, none before the fault, none on the quiet broken flows while a flow of a
    minute may still be waiting for its alert, and none on any other flow."""
    result = faults.run_faults(tmp_path)
    planned = {(e.kind, e.volume) for s in result.scenarios for e in s.expectations}
    assert {k for k, _ in planned} == set(faults.ALERT_OF)
    assert {v for _, v in planned} == {"5s", "minute", "hour"}
    assert result.ok, result.failures() + "\n" + faults.table(result.scenarios)
