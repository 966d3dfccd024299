"""A running simulator and daemon, wired as a user would wire them, on free local ports."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from poller.simulator import SimulatorSettings
from poller.timing import Clocks
from tests.support.stack import StackFactory, Stacks

SEED = 7


@pytest.fixture
async def stack_factory() -> AsyncIterator[StackFactory]:
    """Builds stacks from a queries YAML snippet; tears every one down afterwards."""
    stacks = Stacks(
        queries="",
        settings=lambda: SimulatorSettings(seed=SEED),
        clocks=lambda: Clocks(rng=lambda: 0.0),
    )
    yield stacks.make
    await stacks.close()
