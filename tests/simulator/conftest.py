"""Fixtures for the simulator tests: an app on a TestServer with a fake clock and sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.simulator.push_support import MakePushSim, PushSim, open_push_sim
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


@pytest.fixture
async def make_push_sim() -> AsyncIterator[MakePushSim]:
    """Builds push simulators (see `open_push_sim`); closes them all afterwards."""
    made: list[PushSim] = []

    async def make(**kwargs: object) -> PushSim:
        sim = await open_push_sim(**kwargs)  # type: ignore[arg-type]
        made.append(sim)
        return sim

    yield make
    for sim in made:
        await sim.close()
