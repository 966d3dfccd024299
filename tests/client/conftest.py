"""Fixtures for the client tests: a FakeClock, a fake Genesys server and a client factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from poller.config.model import GenesysSettings
from poller.genesys import RetryPolicy
from poller.genesys.budget import RequestBudget
from poller.selfmetrics import SelfMetrics
from poller.timing import Clocks
from tests.client.client_support import (
    CREDENTIALS,
    E,
    ExpectError,
    MakeClient,
    QueryingClient,
    assert_no_secrets,
)
from tests.support.clock import FakeClock
from tests.support.genesys import FakeGenesys


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics() -> SelfMetrics:
    return SelfMetrics(process=False)


@pytest.fixture
async def genesys(clock: FakeClock) -> AsyncIterator[FakeGenesys]:
    async with FakeGenesys(clock) as server:
        yield server


@pytest.fixture
async def make_client(
    genesys: FakeGenesys, clock: FakeClock, metrics: SelfMetrics
) -> AsyncIterator[MakeClient]:
    """Build clients against the fake server; jitter defaults to the middle of its range."""
    clients: list[QueryingClient] = []

    def make(
        *,
        settings: GenesysSettings | None = None,
        policy: RetryPolicy | None = None,
        budget: RequestBudget | None = None,
        rng: Callable[[], float] = lambda: 0.5,
        **overrides: Any,
    ) -> QueryingClient:
        client = QueryingClient(
            settings or genesys.settings(**overrides),
            CREDENTIALS,
            metrics,
            clocks=Clocks(clock.time, clock.sleep, rng),
            budget=budget,
            policy=policy,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def expect_error(genesys: FakeGenesys) -> ExpectError[Any]:
    """Await a call that must fail with the given type; check no secret or token shows in it."""

    async def expect(call: Awaitable[object], kind: type[E]) -> E:
        with pytest.raises(kind) as caught:
            await call
        assert_no_secrets(caught.value, genesys.tokens)
        return caught.value

    return expect
