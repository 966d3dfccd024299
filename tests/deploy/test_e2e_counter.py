"""End to end, counter mode: `simulate` (indexing lag 1 s) and `run` with a counter query over
20 s periods, scraped every second by a real Prometheus for two whole settled periods.
`increase()` over those periods is checked against the simulator's ground truth
(`POST /simulator/truth`).

The range is laid from the sample just before one restart (the first poll at or after period
start + SETTLE) to the sample just before another restart two periods later, both read back
from Prometheus: its first sample shows the settled total of the period before, its last the
settled total of the second period, and in between each restart is a counter reset whose first
value is counted whole. So the raw increase of the samples (resets handled as Prometheus does)
is exactly the simulator's total of the two periods, and `increase()` is that raw increase
scaled by Prometheus' extrapolation to the range's edges (a few percent at a 1 s scrape).

One module-scoped stack (about 75 s: start-up, the wait for three restarts)."""

from __future__ import annotations

import itertools
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_support import Prometheus, run
from tests.support.http import http_get, wait_for_status
from tests.support.process import Child, listen_url, poller, prometheus_url, simulator_url
from tests.support.tools import require_tool
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

PERIOD = 20  # seconds; divides 24 h, so periods start at multiples of 20 s of Unix time (UTC)
SETTLE = 6
EVERY = 1
LAG = 1  # the simulator's indexing lag: far shorter than SETTLE, so every period settles
PERIODS = 2  # a restart inside the range, beside the two at its ends
FLOWS = 1500  # ~500 entries and ~30 under 30 s per period, even at night: a restart always drops
RANGE = PERIODS * PERIOD
JOB = "counter"
QUERY = "counted"
BOUND_MS = 30000  # the one histogram bucket: le="30"
TIMEOUT = 60.0

CONFIG = {
    "genesys": {"region": "mypurecloud.ie", "requests_per_minute": 300, "timeout": "10s"},
    "queries": [
        {
            "name": QUERY,
            "type": "aggregate",
            "every": f"{EVERY}s",
            "mode": "counter",
            "period": f"{PERIOD}s",
            "settle": f"{SETTLE}s",
            "time_zone": "UTC",
            "metrics": ["nFlow", "nFlowOutcome", "nFlowOutcomeFailed", "tFlow"],
            "views": [{"name": "under30s", "target": "tFlow", "range": {"lt": BOUND_MS}}],
        }
    ],
}


@dataclass
class Counted:
    prometheus: Prometheus
    poller_url: str
    simulator_url: str
    start: int  # first period counted (epoch seconds)
    at: float  # end of the range: the last sample before the restart after the last period
    span: float  # the range's length in seconds, from the sample before the first restart on


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def _samples(api: Prometheus, expr: str) -> list[tuple[float, float]]:
    """Every sample of the one series `expr` selects, since Prometheus started."""
    result = api.vector(f"{expr}[1h]")
    if not result:
        return []
    (series,) = result
    return [(float(t), float(v)) for t, v in series["values"]]


def _before_restarts(samples: list[tuple[float, float]]) -> list[int]:
    """Index of each sample just before a restart (a drop of the counter)."""
    return [i for i, ((_, a), (_, b)) in enumerate(itertools.pairwise(samples)) if b < a]


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Counted]:
    """Simulator, daemon and Prometheus, each on a port it bound and reported, run until
    Prometheus has seen PERIODS + 1 restarts; all stopped at the end of the module."""
    prometheus_bin = require_tool("prometheus")
    tmp = tmp_path_factory.mktemp("e2e-counter")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "POLLER_"))}
    env.update(
        GENESYS_CLIENT_ID="demo-client",
        GENESYS_CLIENT_SECRET="demo-secret",  # the simulator's demo credential
    )
    config = {**CONFIG, "server": {"listen": "127.0.0.1:0"}}
    (tmp / "poller.yaml").write_text(yaml.safe_dump(config))
    children: list[Child] = []
    try:
        simulator = Child(
            poller("simulate", "--listen-address", "127.0.0.1:0", "--flows", str(FLOWS),
                   "--lag", str(LAG)),
            env=env, name="simulate",
        )  # fmt: skip
        children.append(simulator)
        sim_url = simulator_url(simulator, TIMEOUT)
        env.update(GENESYS_API_BASE_URL=sim_url, GENESYS_LOGIN_BASE_URL=sim_url)
        daemon = Child(poller("run", "--config", str(tmp / "poller.yaml")), env=env, name="run")
        children.append(daemon)
        poller_url = listen_url(daemon, TIMEOUT)
        wait_for_status(f"{poller_url}/readyz", 200, timeout=TIMEOUT, alive=daemon.died)
        (tmp / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {
                            "job_name": JOB,
                            "static_configs": [{"targets": [poller_url.removeprefix("http://")]}],
                        }
                    ],
                }
            )
        )
        prometheus = Child(
            [prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'tsdb'}", "--web.listen-address=127.0.0.1:0"],
            env=env, cwd=tmp, name="prometheus",
        )  # fmt: skip
        children.append(prometheus)
        api = Prometheus(prometheus_url(prometheus, TIMEOUT))
        wait_for_status(f"{api.base_url}/-/ready", 200, timeout=TIMEOUT, alive=prometheus.died)
        entries = _selector("genesyscloud_flow_entries_total")

        # The range runs from the sample just before one restart (the settled total of the
        # period before) to the sample just before the restart PERIODS periods later: both ends
        # are samples Prometheus holds, whatever the scrapes' timing.
        def restarts() -> list[tuple[float, float]] | None:
            samples = _samples(api, entries)
            return samples if len(_before_restarts(samples)) > PERIODS else None

        # A restart every PERIOD, the first within a period and its settle after the first
        # sample: this long at most, plus the deadline for a loaded machine.
        samples = wait_for(
            restarts,
            timeout=(PERIODS + 2) * PERIOD + SETTLE + TIMEOUT,
            what=f"{PERIODS + 1} restarts of the counters in Prometheus",
            alive=daemon.died,
        )
        first, last = (_before_restarts(samples)[i] for i in (0, PERIODS))
        # The restart's sample lies within the period whose counting it starts, after settle.
        start = int(samples[first + 1][0] // PERIOD * PERIOD)
        # Halfway to the sample before the first: the range takes that first sample for sure.
        span = samples[last][0] - samples[first][0]
        span += (samples[first][0] - samples[first - 1][0]) / 2 if first else 0.5
        span = round(span, 3)  # whole milliseconds, as the range is written in queries
        yield Counted(api, poller_url, sim_url, start, samples[last][0], span)
    finally:
        for child in reversed(children):
            child.stop()


def _truth(counted: Counted) -> dict[str, dict[str, int]]:
    """The simulator's final stats per metric (and view) over the counted periods."""
    body = {
        "interval": f"{_iso(counted.start)}/{_iso(counted.start + RANGE)}",
        "metrics": CONFIG["queries"][0]["metrics"],  # type: ignore[index]
        "views": [{"name": "under30s", "target": "tFlow", "function": "rangeBound",
                   "range": {"lt": BOUND_MS}}],
    }  # fmt: skip
    request = urllib.request.Request(  # noqa: S310 - our own simulator
        f"{counted.simulator_url}/simulator/truth", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        answer = json.loads(resp.read())
    (only,) = answer["results"]  # no groupBy: one group, no granularity: one bucket
    (bucket,) = only["data"]
    stats = {m["metric"]: m["stats"] for m in bucket["metrics"]}
    stats.update({v["name"]: v["stats"] for v in bucket["views"]})
    return stats


def _expected(truth: dict[str, dict[str, int]]) -> dict[str, float]:
    return {
        "genesyscloud_flow_entries_total": truth["nFlow"]["count"],
        "genesyscloud_flow_outcomes_total": truth["nFlowOutcome"]["count"],
        "genesyscloud_flow_outcomes_failed_total": truth["nFlowOutcomeFailed"]["count"],
        "genesyscloud_flow_duration_seconds_count": truth["tFlow"]["count"],
        "genesyscloud_flow_duration_seconds_sum": truth["tFlow"]["sum"] / 1000,
        'genesyscloud_flow_duration_seconds_bucket{le="30"}': truth["under30s"]["count"],
        'genesyscloud_flow_duration_seconds_bucket{le="+Inf"}': truth["tFlow"]["count"],
    }


def _selector(series: str) -> str:
    name, _, rest = series.partition("{")
    labels = rest.rstrip("}")
    return f'{name}{{job="{JOB}", query="{QUERY}"{", " + labels if labels else ""}}}'


def _at(prom: Prometheus, expr: str, at: float) -> list[dict[str, Any]]:
    answer = prom.api("query", query=expr, time=f"{at:.3f}")
    assert answer.get("status") == "success", f"{expr!r}: {answer.get('error')}"
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _range(counted: Counted) -> str:
    return f"{round(counted.span * 1000)}ms"


def _raw_increase(values: list[tuple[float, float]]) -> float:
    """The increase of the samples as Prometheus counts it: a drop is a reset, after which the
    new value counts whole."""
    total = 0.0
    for (_, before), (_, after) in itertools.pairwise(values):
        total += after - before if after >= before else after
    return total


SERIES = [
    "genesyscloud_flow_entries_total",
    "genesyscloud_flow_outcomes_total",
    "genesyscloud_flow_outcomes_failed_total",
    "genesyscloud_flow_duration_seconds_count",
    "genesyscloud_flow_duration_seconds_sum",
    'genesyscloud_flow_duration_seconds_bucket{le="30"}',
    'genesyscloud_flow_duration_seconds_bucket{le="+Inf"}',
]


@pytest.mark.parametrize("series", SERIES)
def test_increase_over_whole_periods_matches_the_simulator_truth(
    counted: Counted, series: str
) -> None:
    """The samples' raw increase over two settled periods equals the simulator's total exactly,
    and increase() is it scaled by no more than its extrapolation to the range's edges."""
    expected = _expected(_truth(counted))[series]
    selector = _selector(series)
    (matrix,) = _at(counted.prometheus, f"{selector}[{_range(counted)}]", counted.at)
    values = [(float(t), float(v)) for t, v in matrix["values"]]
    assert len(values) >= RANGE - 5  # a sample about every second
    assert _raw_increase(values) == pytest.approx(expected, abs=1e-6)
    assert expected > 0
    (increase,) = _at(counted.prometheus, f"increase({selector}[{_range(counted)}])", counted.at)
    measured = float(increase["value"][1])
    # Whole milliseconds, as Prometheus holds timestamps (their difference as floats of epoch
    # seconds is off by up to a microsecond).
    span = round(values[-1][0] - values[0][0], 3)
    # The upper bound is reached when Prometheus extrapolates to both edges; it and Prometheus
    # compute it in a different order, so they may differ in the last bits.
    assert expected - 1e-6 <= measured <= expected * counted.span / span * (1 + 1e-9) + 1e-6
    assert measured == pytest.approx(expected, rel=0.05)


def test_counter_restarts_once_per_period(counted: Counted) -> None:
    """Over the range, entries reset exactly once per period (at each restart after settle)."""
    selector = _selector("genesyscloud_flow_entries_total")
    (resets,) = _at(counted.prometheus, f"resets({selector}[{_range(counted)}])", counted.at)
    assert float(resets["value"][1]) == PERIODS


def test_promtool_check_metrics_accepts_the_counter_output(counted: Counted) -> None:
    """`promtool check metrics` finds no problem in the counter query's /metrics."""
    status, body = http_get(f"{counted.poller_url}/metrics")
    assert status == 200
    assert b"# TYPE genesyscloud_flow_duration_seconds histogram" in body
    result = run([require_tool("promtool"), "check", "metrics"], input=body.decode())
    assert result.returncode == 0, result.stdout + result.stderr
