"""Names against the simulator: the `_info` families from the Architect listings, paged, with
a 403 per listing, renames, and the budget the queries leave."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from poller.catalog import AGGREGATE_PATH
from poller.simulator.listings import deleted_flow_ids
from poller.simulator.publishing import Publish
from tests.support.clock import PEAK, FakeClock
from tests.support.config import aggregate
from tests.support.exposition import Exposition
from tests.support.stack import Stack, StackFactory


def flows(every: str = "1m") -> str:
    """The one query: flows of the last hour, with the flow's name and type."""
    return aggregate(
        "flows_1h", every=every, window="1h", group_by=["flowId", "flowName", "flowType"]
    )


QUERIES = flows()
PAGE = 4  # entities per listing page: 20 flows, 12 outcomes and 10 milestones take 3-5 pages
UP = "genesyscloud_poller_names_up"


async def names_stack(stack_factory: StackFactory, **config: Any) -> Stack:
    stack = await stack_factory(QUERIES, schedule=False, clock=FakeClock(PEAK), **config)
    stack.daemon.orgs[""].names.page_size = PAGE
    return stack


def listing_requests(stack: Stack, path: str) -> int:
    return sum(stack.simulator.stats.counts.get(path, {}).values())


async def test_every_flow_outcome_and_milestone_gets_its_info_series(
    stack_factory: StackFactory,
) -> None:
    """One refresh reads every page of each listing and exports one info series, value 1, per
    flow (deleted ones marked), outcome and milestone of the simulated org, with its name,
    type and division."""
    stack = await names_stack(stack_factory)
    assert await stack.daemon.refresh_names() == {
        "flows": True,
        "outcomes": True,
        "milestones": True,
    }
    scrape = await stack.scrape()
    org = stack.simulator.org
    divisions = {d.id: d.name for d in org.divisions}
    gone = deleted_flow_ids(org)
    assert gone  # the simulated org has a deleted flow
    flows = {
        labels["flow_id"]: (labels, value)
        for labels, value in scrape.series("genesyscloud_flow_info")
    }
    assert flows == {
        f.id: (
            {
                "flow_id": f.id,
                "flow_name": f.name,
                "flow_type": f.type,
                "division_id": f.division_id,
                "division_name": divisions[f.division_id],
                "deleted": "true" if f.id in gone else "false",
                "published_version": f.version,
            },
            1.0,
        )
        for f in org.flows
    }
    assert scrape.by("flow_outcome_id", "genesyscloud_flow_outcome_info") == {
        o.id: 1.0 for o in org.outcomes
    }
    assert scrape.by("flow_outcome_name", "genesyscloud_flow_outcome_info") == {
        o.name: 1.0 for o in org.outcomes
    }
    assert {
        (labels["flow_milestone_id"], labels["flow_milestone_name"])
        for labels, _ in scrape.series("genesyscloud_flow_milestone_info")
    } == {(m.id, m.name) for m in org.milestones}
    assert len(scrape.series("genesyscloud_flow_milestone_info")) == len(org.milestones)
    assert scrape.by("kind", UP) == {"flows": 1.0, "outcomes": 1.0, "milestones": 1.0}
    # Several pages each: flows twice (active, then with the deleted one), 5 + 5 pages of 4.
    assert listing_requests(stack, "/api/v2/flows") == 10
    assert listing_requests(stack, "/api/v2/flows/outcomes") == 3
    assert listing_requests(stack, "/api/v2/flows/milestones") == 3


async def test_flow_ids_of_the_queries_all_have_names(stack_factory: StackFactory) -> None:
    """Every flow_id the aggregate query exports has exactly one genesyscloud_flow_info series
    with the same flow_id, so the join with group_left matches one to one."""
    stack = await names_stack(stack_factory)
    assert await stack.daemon.poll_all() == {"flows_1h": True}
    await stack.daemon.refresh_names()
    scrape = await stack.scrape()
    exported = set(scrape.by("flow_id", "genesyscloud_flow_entries"))
    named = [labels["flow_id"] for labels, _ in scrape.series("genesyscloud_flow_info")]
    assert exported
    assert exported <= set(named)
    assert len(named) == len(set(named))


@pytest.mark.parametrize(
    ("fault", "kind", "permission"),
    [
        ("flows", "flows", "architect:flow:view"),
        ("outcomes", "outcomes", "architect:flowOutcome:view"),
        ("milestones", "milestones", "architect:flowMilestone:view"),
    ],
)
async def test_a_403_disables_that_listing_only(
    stack_factory: StackFactory, fault: str, kind: str, permission: str
) -> None:
    """A 403 on one listing logs one warning naming the missing permission and sets its
    names_up to 0; the query, readiness and the other listings are unaffected, and the listing
    is tried again (and recovers) at the next refresh."""
    stack = await names_stack(stack_factory, faults=f"forbidden={fault}")
    with capture_logs() as logs:
        assert await stack.daemon.poll_all() == {"flows_1h": True}
        first = await stack.daemon.refresh_names()
        second = await stack.daemon.refresh_names()
    assert first == second == {k: k != kind for k in ("flows", "outcomes", "milestones")}
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [(e["event"], e["kind"], e["permission"], e["status"]) for e in warnings] == [
        ("names_forbidden", kind, permission, 403)
    ]
    scrape = await stack.scrape()
    assert scrape.by("kind", UP) == {
        k: 0.0 if k == kind else 1.0 for k in ("flows", "outcomes", "milestones")
    }
    assert scrape.up("flows_1h") == 1
    assert (await stack.ready())[0] == 200
    family = {
        "flows": "genesyscloud_flow_info",
        "outcomes": "genesyscloud_flow_outcome_info",
        "milestones": "genesyscloud_flow_milestone_info",
    }
    assert {name for name in family.values() if scrape.series(name)} == {
        name for k, name in family.items() if k != kind
    }
    stack.simulator.clear_faults()
    with capture_logs() as logs:
        assert all((await stack.daemon.refresh_names()).values())
    assert [(e["event"], e["kind"]) for e in logs] == [("names_recovered", kind)]
    assert (await stack.scrape()).get(UP, kind=kind) == 1


async def test_a_rename_replaces_the_old_series_at_the_next_refresh(
    stack_factory: StackFactory,
) -> None:
    """A renamed milestone and flow show their new names after the next refresh, and their old
    series are gone: one series per id."""
    stack = await names_stack(stack_factory)
    await stack.daemon.refresh_names()
    milestone = stack.simulator.org.milestones[0]
    flow = stack.simulator.org.flows[0]
    stack.simulator.rename(milestone.id, "Menu Reached")
    stack.simulator.rename(flow.id, "Main IVR (2025)")
    before = await stack.scrape()
    assert before.by(
        "flow_milestone_name", "genesyscloud_flow_milestone_info", flow_milestone_id=milestone.id
    ) == {milestone.name: 1.0}
    await stack.daemon.refresh_names()
    after = await stack.scrape()
    assert after.by(
        "flow_milestone_name", "genesyscloud_flow_milestone_info", flow_milestone_id=milestone.id
    ) == {"Menu Reached": 1.0}
    assert after.by("flow_name", "genesyscloud_flow_info", flow_id=flow.id) == {
        "Main IVR (2025)": 1.0
    }


async def test_failed_refresh_keeps_names_until_three_periods_old(
    stack_factory: StackFactory,
) -> None:
    """A listing that starts failing keeps serving its last good names for three refresh
    periods (names.every 1h), then drops them with a warning."""
    clock = FakeClock(PEAK)
    stack = await stack_factory(QUERIES, schedule=False, clock=clock)
    await stack.daemon.refresh_names()
    stack.faults("forbidden=outcomes")
    outcomes = len(stack.simulator.org.outcomes)
    for hours in (1, 2, 3):
        clock.now = PEAK.timestamp() + hours * 3600
        await stack.daemon.refresh_names()
        assert len((await stack.scrape()).series("genesyscloud_flow_outcome_info")) == outcomes
    clock.now = PEAK.timestamp() + 4 * 3600
    with capture_logs() as logs:
        await stack.daemon.refresh_names()
    scrape = await stack.scrape()
    assert scrape.series("genesyscloud_flow_outcome_info") == []
    assert len(scrape.series("genesyscloud_flow_milestone_info")) == len(
        stack.simulator.org.milestones
    )
    assert ("names_dropped_stale", "outcomes") in [(e["event"], e.get("kind")) for e in logs]


async def test_listings_never_exceed_the_budget_nor_delay_a_query(
    stack_factory: StackFactory,
) -> None:
    """With a budget of 12 a minute and a query every 10s (7 places kept for it), a refresh of
    16 pages spreads over minutes: no 60s window of the simulator sees more than 12 requests,
    none is refused, and the query's polls meanwhile get through at once."""
    clock = FakeClock(PEAK)
    stack = await stack_factory(flows(every="10s"), schedule=False, clock=clock, rpm=12)
    stack.daemon.orgs[""].names.page_size = PAGE
    assert await stack.daemon.refresh_names() == {
        "flows": True,
        "outcomes": True,
        "milestones": True,
    }
    times = sorted(r.at for r in stack.simulator.stats.records if r.path != "/oauth/token")
    assert len(times) == 16
    assert max(sum(1 for t in times if s <= t < s + 60) for s in times) <= 12 - 7
    assert all(r.status == 200 for r in stack.simulator.stats.records)
    started = clock.now
    assert await stack.daemon.poll("flows_1h")
    assert clock.now == started  # the poll found a free place at once
    assert sum(stack.simulator.stats.counts[AGGREGATE_PATH].values()) == 1


def info_names(scrape: Exposition) -> set[str]:
    return {name for name in scrape.names() if name.endswith("_info")}


async def test_names_off_exports_no_info_series(stack_factory: StackFactory) -> None:
    """With names.every: off, no listing is read and no info or names_up series is exported."""
    stack = await stack_factory(QUERIES, schedule=False, names={"every": "off"})
    assert await stack.daemon.refresh_names() == {}
    scrape = await stack.scrape()
    assert info_names(scrape) == {"genesyscloud_poller_build_info", "python_info"}
    assert scrape.series(UP) == []


async def test_a_publish_changes_the_published_version_from_its_moment(
    stack_factory: StackFactory,
) -> None:
    """A flow published a minute from now keeps its own version in flow_info until then; the
    first refresh after the moment shows the next version, the other flows keep theirs."""
    clock = FakeClock(PEAK)
    stack = await stack_factory(QUERIES, schedule=False, clock=clock)
    org = stack.simulator.org
    flow, other = org.flows[0], org.flows[1]
    assert flow.next_version != flow.version
    stack.simulator.state.engine.set_publish(flow.id, Publish(round((clock.now + 60) * 1000)))

    async def published() -> dict[str, str]:
        assert (await stack.daemon.refresh_names())["flows"]
        scrape = await stack.scrape()
        return {
            labels["flow_id"]: labels["published_version"]
            for labels, _ in scrape.series("genesyscloud_flow_info")
        }

    before = await published()
    assert (before[flow.id], before[other.id]) == (flow.version, other.version)
    clock.advance(60)
    after = await published()
    assert (after[flow.id], after[other.id]) == (flow.next_version, other.version)
