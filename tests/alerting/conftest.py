"""A simulator and daemon on one fake clock, for comparing the generator with the real poller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from poller.simulator import SimulatorSettings
from poller.timing import Clocks
from tests.support.stack import StackFactory, Stacks


@pytest.fixture
async def stack_factory() -> AsyncIterator[StackFactory]:
    """Builds stacks from a queries YAML snippet; tears every one down afterwards."""
    stacks = Stacks(
        queries="",
        settings=lambda: SimulatorSettings(),
        clocks=lambda: Clocks(rng=lambda: 0.0),
    )
    yield stacks.make
    await stacks.close()
