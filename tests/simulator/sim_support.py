"""Helpers for the simulator tests: a simulator app on a TestServer with a fake clock, and
the requests the tests send it."""

from __future__ import annotations

import base64
import dataclasses
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from poller.catalog import AGGREGATE_PATH, OBSERVATION_PATH, TOKEN_PATH
from poller.simulator import SimulatorSettings, build_simulator_app, contract
from poller.simulator.app import SimulatorState, state_of
from tests.support.clock import FakeClock
from tests.support.genesys import Reply

# 14:00 UTC on a Thursday: the daily peak, and well after every interval the tests ask about.
NOW = datetime(2026, 5, 14, 14, 0, tzinfo=UTC)
ALL_METRICS = list(contract.AGGREGATE_METRICS)
COUNT_METRICS = {"nFlow", "nFlowMilestone", "nFlowOutcome", "nFlowOutcomeFailed"}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def interval(start: datetime, end: datetime) -> str:
    return f"{iso(start)}/{iso(end)}"


def hours_before_now(start_hours: float, end_hours: float = 0.0) -> str:
    return interval(NOW - timedelta(hours=start_hours), NOW - timedelta(hours=end_hours))


# A small, valid aggregate query: most tests care about what surrounds the answer.
VALID_BODY: dict[str, Any] = {"interval": hours_before_now(1, 55 / 60), "metrics": ["nFlow"]}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class Sim:
    server: TestServer
    http: aiohttp.ClientSession
    clock: FakeClock
    settings: SimulatorSettings
    _token: str | None = None

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def state(self) -> SimulatorState:
        return state_of(self.server.app)

    async def close(self) -> None:
        await self.http.close()
        await self.server.close()

    async def login(
        self,
        client_id: str | None = None,
        secret: str | None = None,
        grant: str = "client_credentials",
    ) -> Reply:
        headers = {
            "Authorization": basic(
                client_id if client_id is not None else self.settings.client_id,
                secret if secret is not None else self.settings.client_secret,
            )
        }
        return await self.send(TOKEN_PATH, data={"grant_type": grant}, headers=headers)

    async def token(self) -> str:
        if self._token is None:
            reply = await self.login()
            assert reply.status == 200, reply.text
            self._token = reply.json["access_token"]
        return self._token

    async def send(
        self,
        path: str,
        *,
        body: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> Reply:
        kwargs: dict[str, Any] = {"headers": headers or {}}
        if data is not None:
            kwargs["data"] = data
        elif body is not None:
            kwargs["json"] = body
        async with self.http.request(method, self.base + path, **kwargs) as resp:
            return Reply(resp.status, await resp.text(), headers=dict(resp.headers))

    async def api(self, path: str, body: Any, *, token: str | None = None) -> Reply:
        bearer = token if token is not None else await self.token()
        return await self.send(path, body=body, headers={"Authorization": f"Bearer {bearer}"})

    async def aggregate(self, body: dict[str, Any]) -> Reply:
        return await self.api(AGGREGATE_PATH, body)

    async def observe(self, body: dict[str, Any]) -> Reply:
        return await self.api(OBSERVATION_PATH, body)

    async def results(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The `results` of a successful aggregate query ([] for the empty answer `{}`)."""
        reply = await self.aggregate(body)
        assert reply.status == 200, reply.text
        results: list[dict[str, Any]] = reply.json.get("results", [])
        return results


MakeSim = Callable[..., Awaitable[Sim]]


async def open_sim(
    *,
    settings: SimulatorSettings | None = None,
    clock: FakeClock | None = None,
    rng: random.Random | None = None,
    **overrides: Any,
) -> Sim:
    """A simulator app on a TestServer; `overrides` are SimulatorSettings fields."""
    base = settings or SimulatorSettings(flows=4)
    if overrides:
        base = dataclasses.replace(base, **overrides)
    fake_clock = clock or FakeClock(NOW)
    app = build_simulator_app(base, clock=fake_clock, rng=rng, sleep=fake_clock.sleep)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return Sim(server, aiohttp.ClientSession(), fake_clock, base)


def totals(
    results: list[dict[str, Any]],
) -> dict[tuple[tuple[str, str], ...], dict[str, dict[str, int]]]:
    """Per group, per metric: the stats merged over all buckets (counts and sums add up,
    max and min take the extreme), the way a client merges a bucketed answer."""
    out: dict[tuple[tuple[str, str], ...], dict[str, dict[str, int]]] = {}
    for result in results:
        group = tuple(sorted(result.get("group", {}).items()))
        metrics = out.setdefault(group, {})
        for bucket in result["data"]:
            for item in bucket.get("metrics", []):
                merged = metrics.setdefault(item["metric"], {})
                for key, value in item["stats"].items():
                    if key in ("count", "sum"):
                        merged[key] = merged.get(key, 0) + value
                    elif key == "max":
                        merged[key] = max(merged.get(key, value), value)
                    elif key == "min":
                        merged[key] = min(merged.get(key, value), value)
    return out
