"""`POST /simulator/truth`: the ground truth of an aggregate query over HTTP, for tests that run
the simulator as a separate process."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.simulator.sim_support import NOW, MakeSim, interval

LAG = 60.0
BODY: dict[str, Any] = {
    "interval": interval(NOW - timedelta(minutes=5), NOW),
    "groupBy": ["flowId"],
    "metrics": ["nFlow", "tFlow", "nFlowOutcomeFailed"],
    "views": [{"name": "under30s", "target": "tFlow", "function": "rangeBound",
               "range": {"lt": 30000}}],
}  # fmt: skip


async def test_truth_is_what_the_api_answers_once_the_lag_has_passed(make_sim: MakeSim) -> None:
    """The endpoint answers (without a token) what the aggregate API answers only after the
    indexing lag, not what it answers before."""
    sim = await make_sim(flows=20, lag=LAG)
    truth = await sim.send("/simulator/truth", body=BODY)
    assert truth.status == 200, truth.text
    before = await sim.aggregate(BODY)
    sim.clock.advance(LAG)
    after = await sim.aggregate(BODY)
    assert (before.status, after.status) == (200, 200)
    assert truth.json["results"]
    assert truth.json == after.json
    assert truth.json != before.json


async def test_truth_refuses_an_invalid_body_like_the_api(make_sim: MakeSim) -> None:
    """A body the API refuses gets the same status and code; a non-JSON body gets 400."""
    sim = await make_sim()
    bad = {**BODY, "metrics": ["nOops"]}
    api = await sim.aggregate(bad)
    truth = await sim.send("/simulator/truth", body=bad)
    assert api.status == 400
    assert (truth.status, truth.json["code"]) == (api.status, api.json["code"])
    garbage = await sim.send("/simulator/truth", data=b"{not json")
    assert (garbage.status, garbage.json["code"]) == (400, "bad.request")
