"""Several orgs in one process: each with its own client, budget and pause, so one org's
failure, throttling or bad credentials never touches another's polls or values."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from structlog.testing import capture_logs

from poller.catalog import AGGREGATE_PATH
from poller.config import parse_config
from poller.config.model import Config, Credentials, CredentialSource, OrgConfig, Secret
from poller.daemon import Daemon
from poller.selfmetrics import SelfMetrics
from poller.serving import bound_addresses, serve
from poller.shard import Shard
from poller.simulator import Simulator, SimulatorSettings
from poller.simulator.validation import validate_aggregate
from poller.timing import Clocks
from tests.support.clock import PEAK, FakeClock
from tests.support.config import aggregate, media, observation, org_entry
from tests.support.exposition import Exposition
from tests.support.stack import StackFactory, config_text, start_simulator

QUERIES = aggregate("flows", every="60s", window="1h", group_by=["flowId"]) + observation(
    "active", every="30s", filter=media("voice", op="and")
)
ORGS = ("acme", "globex")
SEEDS = {"acme": 7, "globex": 8}


@dataclasses.dataclass
class Orgs:
    """Two orgs, each on a simulator of its own (as orgs in two regions are), one daemon."""

    clock: FakeClock
    simulators: dict[str, Simulator]
    asked: dict[str, list[tuple[float, Any]]]  # per org: (when, body) of each aggregate query
    daemon: Daemon
    runner: web.AppRunner
    http: aiohttp.ClientSession
    url: str

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.url + path) as resp:
            return resp.status, await resp.text()

    async def scrape(self) -> Exposition:
        status, body = await self.get("/metrics")
        assert status == 200
        return Exposition(body)

    def truth(self, org: str) -> dict[str, float]:
        """{flow id: entries} the org's simulator computes for the last body the daemon sent."""
        state = self.simulators[org].state
        when, body = self.asked[org][-1]
        answer = state.engine.aggregate(validate_aggregate(body), int(when * 1000))
        return {
            r["group"]["flowId"]: sum(
                m["stats"]["count"]
                for b in r["data"]
                for m in b["metrics"]
                if m["metric"] == "nFlow"
            )
            for r in answer.get("results", [])
        }


def orgs_config(simulators: dict[str, Simulator], names: tuple[str, ...] = ORGS) -> Config:
    """A config listing `names`, each org's hosts its own simulator's."""
    base = parse_config(
        config_text(QUERIES),
        env={"GENESYS_API_BASE_URL": "http://unused", "GENESYS_LOGIN_BASE_URL": "http://unused"},
    )
    orgs = tuple(
        OrgConfig(
            name,
            dataclasses.replace(
                base.genesys,
                region=f"region-of-{name}",
                api_base_url=simulators[name].base_url,
                login_base_url=simulators[name].base_url,
            ),
            CredentialSource(client_id_env=f"{name.upper()}_ID", client_secret_env="X"),
            base.queries,
        )
        for name in names
    )
    return dataclasses.replace(
        base, orgs=orgs, names=dataclasses.replace(base.names, enabled=False)
    )


OrgsFactory = Callable[..., Awaitable[Orgs]]


@pytest.fixture
async def two_orgs() -> AsyncIterator[OrgsFactory]:
    """Builds the two-org stack: `secrets` replaces an org's secret, `shard` the replica's."""
    made: list[Orgs] = []
    simulators: list[Simulator] = []

    async def make(
        secrets: dict[str, str] | None = None,
        shard: Shard | None = None,
        extra: tuple[str, ...] = (),
    ) -> Orgs:
        clock = FakeClock(PEAK)
        sims: dict[str, Simulator] = {}
        asked: dict[str, list[tuple[float, Any]]] = {}
        for name in (*ORGS, *extra):
            settings = SimulatorSettings(seed=SEEDS.get(name, 9))
            asked[name] = []

            def prepare(sim: Simulator, seen: list[tuple[float, Any]] = asked[name]) -> None:
                @web.middleware
                async def recorder(request: web.Request, handler: Handler) -> web.StreamResponse:
                    if request.path == AGGREGATE_PATH:
                        seen.append((clock(), json.loads(await request.read())))
                    return await handler(request)

                sim.app.middlewares.append(recorder)

            sims[name], _ = await start_simulator(settings, prepare, clock)
            simulators.append(sims[name])
        given = secrets or {}

        def credentials(org: OrgConfig) -> Credentials:
            return Credentials("demo-client", Secret(given.get(org.name, "demo-secret")))

        daemon = Daemon(
            orgs_config(sims),
            credentials,
            clocks=Clocks(clock, clock.sleep, lambda: 0.0),
            metrics=SelfMetrics(render_max_age=0, org_label=True, process=False),
            shard=shard,
        )
        runner = await serve(daemon, "127.0.0.1", 0, schedule=False)
        http = aiohttp.ClientSession()
        orgs = Orgs(
            clock, sims, asked, daemon, runner, http, "http://" + bound_addresses(runner)[0]
        )
        made.append(orgs)
        return orgs

    yield make
    for orgs in made:
        await orgs.http.close()
        await orgs.daemon.stop()
        await orgs.runner.cleanup()
    for sim in simulators:
        await sim.stop()


async def test_two_orgs_serve_their_own_exact_values(two_orgs: OrgsFactory) -> None:
    """Each org's series carry its org label and exactly its own simulator's values."""
    orgs = await two_orgs()
    assert await orgs.daemon.poll_all() == {
        "acme/flows": True,
        "acme/active": True,
        "globex/flows": True,
        "globex/active": True,
    }
    scrape = await orgs.scrape()
    for org in ORGS:
        truth = orgs.truth(org)
        assert truth, f"{org}'s simulator has no flows at its peak hour"
        assert scrape.by("flow_id", "genesyscloud_flow_entries", org=org) == truth
        assert scrape.get("genesyscloud_poller_query_up", org=org, query="flows") == 1
        assert (
            scrape.get("genesyscloud_poller_org_info", org=org, genesys_region=f"region-of-{org}")
            == 1
        )
    assert orgs.truth("acme") != orgs.truth("globex")
    assert all("org" in labels for labels, _ in scrape.series("genesyscloud_flow_entries"))
    assert scrape.get("genesyscloud_poller_shard_info", shard_index="0", shard_count="1") == 1
    status, body = await orgs.get("/readyz")
    assert status == 200
    assert '"orgs": ["acme", "globex"]' in body


async def test_a_failing_org_leaves_the_other_up_with_exact_values(two_orgs: OrgsFactory) -> None:
    """With every globex request failing 503, acme stays up with its exact values, and only
    globex's queries hold /readyz back."""
    orgs = await two_orgs()
    orgs.simulators["globex"].set_faults("503=1")
    results = await orgs.daemon.poll_all()
    assert results == {
        "acme/flows": True,
        "acme/active": True,
        "globex/flows": False,
        "globex/active": False,
    }
    scrape = await orgs.scrape()
    assert scrape.by("flow_id", "genesyscloud_flow_entries", org="acme") == orgs.truth("acme")
    assert scrape.series("genesyscloud_flow_entries", org="globex") == []
    assert scrape.get("genesyscloud_poller_query_up", org="globex", query="flows") == 0
    status, body = await orgs.get("/readyz")
    assert status == 503
    assert '"globex/flows"' in body
    assert '"globex/active"' in body
    assert "acme/" not in body


async def test_bad_credentials_fail_one_org_alone(two_orgs: OrgsFactory) -> None:
    """globex's wrong secret gives invalid_client for globex; acme logs in and polls as ever."""
    orgs = await two_orgs(secrets={"globex": "wrong-secret"})
    with capture_logs() as logs:
        results = await orgs.daemon.poll_all()
    assert results["acme/flows"]
    assert results["acme/active"]
    assert not results["globex/flows"]
    assert not results["globex/active"]
    failing = [e for e in logs if e["event"] == "poll_failing"]
    assert {e["org"] for e in failing} == {"globex"}
    assert all("invalid_client" in e["error"] for e in failing)
    assert all("wrong-secret" not in repr(e) for e in logs)
    scrape = await orgs.scrape()
    assert scrape.by("flow_id", "genesyscloud_flow_entries", org="acme") == orgs.truth("acme")
    # Each poll took its place in its org's budget before logging in: globex's two sent nothing.
    places = scrape.by("org", "genesyscloud_poller_api_budget_places_taken_total")
    assert places == {"acme": 2.0, "globex": 2.0}
    sent = "genesyscloud_poller_api_requests_total"
    assert scrape.total(sent, org="acme") - scrape.total(sent, org="acme", endpoint="token") == 2
    assert scrape.total(sent, org="globex") == scrape.total(sent, org="globex", endpoint="token")


async def test_a_throttled_org_pauses_alone(two_orgs: OrgsFactory) -> None:
    """A 300 s Retry-After on globex pauses globex only: acme's polls go on at once, the pause
    gauge carries globex's org, and globex's next scheduled poll is skipped as paused."""
    orgs = await two_orgs()
    orgs.simulators["globex"].set_faults("storm429=600s,retry_after=300")
    begun = orgs.clock()
    with capture_logs() as logs:
        results = await orgs.daemon.poll_all()
    assert results["acme/flows"]
    assert results["acme/active"]
    assert not results["globex/flows"]
    assert orgs.clock() == begun, "acme's polls waited for globex's pause"
    paused = [e for e in logs if e["event"] == "api_paused"]
    assert paused
    assert {e["org"] for e in paused} == {"globex"}
    assert not await orgs.daemon.poll("globex/flows")
    assert await orgs.daemon.poll("acme/flows")
    scrape = await orgs.scrape()
    until = scrape.get(
        "genesyscloud_poller_api_paused_until_timestamp_seconds", org="globex", host="api"
    )
    assert until == begun + 300
    assert scrape.series("genesyscloud_poller_api_paused_until_timestamp_seconds", org="acme") == []
    assert (
        scrape.get(
            "genesyscloud_poller_polls_skipped_total", org="globex", query="flows", reason="paused"
        )
        == 1
    )
    assert (
        scrape.get(
            "genesyscloud_poller_polls_skipped_total", org="acme", query="flows", reason="paused"
        )
        == 0
    )


async def test_reload_adds_and_removes_orgs_without_touching_the_kept_one(
    two_orgs: OrgsFactory,
) -> None:
    """Dropping globex and adding initech: globex's series go, initech's come, and acme keeps
    its client (no new login) and its series."""
    orgs = await two_orgs(extra=("initech",))
    await orgs.daemon.poll_all()
    acme_client = orgs.daemon.orgs["acme"].client
    logins = orgs.simulators["acme"].stats.count("/oauth/token")
    assert logins == 1
    new = orgs_config(orgs.simulators, ("acme", "initech"))
    await orgs.daemon.apply(new)
    assert sorted(orgs.daemon.orgs) == ["acme", "initech"]
    assert orgs.daemon.orgs["acme"].client is acme_client
    scrape = await orgs.scrape()
    assert 'org="globex"' not in "".join(str(labels) for _, labels, _ in scrape.samples)
    assert scrape.get("genesyscloud_poller_query_up", org="initech", query="flows") == 0
    assert scrape.by("org", "genesyscloud_poller_api_budget_requests_per_minute") == {
        "acme": 300.0,
        "initech": 300.0,
    }
    assert await orgs.daemon.poll_all() == {
        "acme/flows": True,
        "acme/active": True,
        "initech/flows": True,
        "initech/active": True,
    }
    assert orgs.simulators["acme"].stats.count("/oauth/token") == logins
    scrape = await orgs.scrape()
    assert scrape.by("flow_id", "genesyscloud_flow_entries", org="initech") == orgs.truth("initech")


@pytest.mark.parametrize("count", [2, 3])
async def test_shards_poll_only_their_orgs_and_an_empty_one_is_ready(
    two_orgs: OrgsFactory, count: int
) -> None:
    """Across shards 0..M-1 each org is polled by one replica; a replica owning none is ready
    and says so on /readyz and the landing page."""
    polled: list[str] = []
    for index in range(count):
        orgs = await two_orgs(shard=Shard(index, count))
        owned = sorted(orgs.daemon.orgs)
        polled.extend(owned)
        results = await orgs.daemon.poll_all()
        assert sorted({job.split("/")[0] for job in results}) == owned
        status, body = await orgs.get("/readyz")
        if not owned:
            assert status == 200
            assert '"orgs": []' in body
            _, page = await orgs.get("/")
            assert f"Shard {index} of {count} owns no org" in page
    assert sorted(polled) == sorted(ORGS)


async def test_reload_between_one_org_and_orgs_is_refused_until_a_restart(
    stack_factory: StackFactory,
) -> None:
    """A reload that adds `orgs:` to a config without them would relabel every series: it is
    refused, naming the restart, and the running config keeps polling."""
    stack = await stack_factory(QUERIES, schedule=False)
    stack.text += "orgs:\n" + org_entry("acme", client_id_env="A", client_secret_env="B")
    with capture_logs() as logs:
        ok, message = await stack.daemon.reload()
    assert not ok
    assert "restart the poller to apply it" in message
    (failed,) = [e for e in logs if e["event"] == "config_reload_failed"]
    assert "adding or removing orgs: changes the labels of every series" in failed["problems"][0]
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    scrape = await stack.scrape()
    assert scrape.get("genesyscloud_poller_config_last_reload_successful") == 0
    assert "org" not in {
        name for labels, _ in scrape.series("genesyscloud_poller_query_up") for name in labels
    }
