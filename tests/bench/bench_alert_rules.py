"""The shipped rules over traffic generated from the simulator's engine (tests/alerting): a
simulated week of normal traffic for every flow of the default org (target: no alert fires),
and every flow fault at four times of day on flows of each volume class (target: the expected
alert by its target, nothing elsewhere). Figures: promtool's verdicts, the alerts that fired
where none should (first firing time, flow), and the cost. `--quick`: one weekday for every 4th
flow by volume."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from tests.alerting import faults, week
from tests.bench.common import Section

QUICK_DAY = 2  # Wednesday
QUICK_EVERY = 4


def _normal(section: Section, tmp: Path) -> None:
    if section.quick:
        result = week.run_week(
            tmp, days=1, first=QUICK_DAY, subset=week.by_volume(every=QUICK_EVERY), groups=2
        )
        what = "a weekday of normal traffic, every 4th flow by volume"
    else:
        result = week.run_week(tmp, days=7, groups=2)
        what = "a week of normal traffic, every flow of the default org"
    section.figures["normal_generate_seconds"] = round(result.generate_seconds, 1)
    section.figures["normal_promtool_seconds"] = round(result.promtool_seconds, 1)
    section.target(f"{what}: no alert fires", result.ok, "promtool over every evaluation")
    if not result.ok:
        section.note(result.failures())


def _faults(section: Section, tmp: Path) -> None:
    result = faults.run_faults(tmp)
    section.figures["faults_generate_seconds"] = round(result.generate_seconds, 1)
    section.figures["faults_promtool_seconds"] = round(result.promtool_seconds, 1)
    section.target(
        "each fault fires its alert by its target, nothing elsewhere",
        result.ok,
        f"{len(result.scenarios)} times of day",
    )
    print(faults.table(result.scenarios), flush=True)
    if not result.ok:
        section.note(result.failures())


async def run(section: Section) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await asyncio.to_thread(_faults, section, Path(tmp))
        await asyncio.to_thread(_normal, section, Path(tmp))
