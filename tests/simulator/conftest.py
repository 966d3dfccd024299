"""Fixtures for the simulator tests: an app on a TestServer with a fake clock and sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.simulator.sim_support import MakeSim, Sim, open_sim


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    """Builds simulators (keyword arguments as for `open_sim`); closes them all afterwards."""
    made: list[Sim] = []

    async def make(**kwargs: object) -> Sim:
        sim = await open_sim(**kwargs)  # type: ignore[arg-type]
        made.append(sim)
        return sim

    yield make
    for sim in made:
        await sim.close()
