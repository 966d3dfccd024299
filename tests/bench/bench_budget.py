"""Benchmark 4: the shared request budget holds when the schedule asks for far more.

Six queries every second want 360 requests a minute against `requests_per_minute: 60`. The
daemon runs for real (APScheduler, real clock) against the simulator, whose own rate limit is
set to the same budget, for 70 s: past the first 60 s window, so requests freed by the window
sliding are used again. The simulator records when every analytics request arrived; the most in
any 60 s must not exceed the budget. `check-config`'s report (poller.checkreport.format_report) must
have warned about the overcommitted schedule before the run.

The budget's 60 s window is fixed, so --quick cannot compress it: it runs 10 s against a budget
of 10 and checks that the budget was used up but never exceeded within that first window.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from poller.catalog import TOKEN_PATH
from poller.checkreport import format_report
from poller.config import parse_config
from poller.config.model import Config, Credentials, Secret
from poller.daemon import Daemon
from poller.serving import serve
from poller.simulator import Simulator, SimulatorSettings
from tests.bench.common import Section, quiet_logs

QUERIES = 6
EVERY = "1s"
FULL = (60, 70.0)  # requests_per_minute, seconds to run
QUICK = (10, 10.0)
WARNING = "WARNING: the queries need"


def config_for(base_url: str, rpm: int) -> Config:
    queries = "".join(
        f"  - name: flows_{i}\n    type: aggregate\n    every: {EVERY}\n    window: 15m\n"
        "    group_by: [flowId, flowName]\n    metrics: [nFlow, tFlow]\n"
        for i in range(1, QUERIES + 1)
    )
    text = (
        f"genesys:\n  region: mypurecloud.ie\n  requests_per_minute: {rpm}\n  timeout: 10s\n"
        f'server:\n  listen: "127.0.0.1:0"\nqueries:\n{queries}'
    )
    env = {"GENESYS_API_BASE_URL": base_url, "GENESYS_LOGIN_BASE_URL": base_url}
    return parse_config(text, source="bench-budget.yaml", env=env)


async def run(section: Section) -> None:
    rpm, seconds = QUICK if section.quick else FULL
    # Every skipped tick logs poll_skipped_overrun: expected here, and hundreds of lines.
    quiet_logs(logging.ERROR)
    if section.quick:
        section.note(f"--quick: {seconds:g} s against a budget of {rpm}/min (full run: 70 s, 60)")
    settings = SimulatorSettings(seed=3, requests_per_minute=rpm)
    simulator = Simulator(settings)
    await simulator.start("127.0.0.1", 0)
    try:
        config = config_for(simulator.base_url, rpm)
        plan = format_report(config)
        print("\n  check-config plan:\n    " + plan.replace("\n", "\n    "))
        warned = any(line.startswith(WARNING) for line in plan.splitlines())
        credentials = Credentials(settings.client_id, Secret(settings.client_secret))
        daemon = Daemon(config, credentials)
        print(f"\n  running the daemon for {seconds:g} s ...", flush=True)
        runner = await serve(daemon, "127.0.0.1", 0)
        begun = time.monotonic()
        try:
            await asyncio.sleep(seconds)
        finally:
            await daemon.stop()
            await runner.cleanup()
        ran = time.monotonic() - begun
    finally:
        await simulator.stop()
    stats = simulator.stats
    requests = stats.requests(settings.client_id)
    worst = stats.max_in_window(settings.client_id, 60.0)
    throttled = sum(1 for r in requests if r.status == 429)
    skipped = sum(
        s.value
        for metric in daemon.metrics.polls_skipped.family.collect()
        for s in metric.samples
        if s.name.endswith("_total")
    )
    asked = QUERIES * ran  # what the schedule alone would have sent
    times = sorted(r.at for r in requests)
    breach = _tightest_window(times, rpm)
    logins = [r.at for r in stats.requests(paths=(TOKEN_PATH,))]
    token_lead_ms = (times[0] - logins[0]) * 1000 if times and logins else math.nan
    section.figures = {
        "queries": QUERIES,
        "every_seconds": 1,
        "requests_per_minute": rpm,
        "seconds": round(ran, 1),
        "scheduled_requests": round(asked),
        "requests_sent": len(requests),
        "max_in_any_60s": worst,
        "throttled_429": throttled,
        "polls_skipped": skipped,
        "plan_warned": warned,
        "tightest_window": breach,
        "first_request_after_token_ms": token_lead_ms,
    }
    print(
        f"\n  {QUERIES} queries every {EVERY}, budget {rpm}/min, {ran:.0f} s: the schedule "
        f"asked for ~{asked:.0f} requests, {len(requests)} were sent, at most {worst} in any "
        f"60 s, {throttled} got 429, {skipped:.0f} scheduled polls skipped while waiting"
    )
    if breach is not None and breach["seconds"] < 60.0:
        section.note(
            f"request {breach['first'] + rpm + 1} arrived {breach['seconds']:.3f} s after request "
            f"{breach['first'] + 1}; the first analytics request came "
            f"{token_lead_ms:.1f} ms after the OAuth token request it waited for"
        )
    section.target("check-config warned that the schedule exceeds the budget", warned, WARNING)
    section.target(
        f"at most {rpm} requests in any sliding 60 s",
        worst <= rpm,
        f"max {worst} in 60 s, {throttled} throttled",
    )
    section.target(
        "the budget was used, not just avoided",
        worst >= rpm * 0.9,
        f"max {worst} of {rpm} in 60 s",
    )


def _tightest_window(times: list[float], rpm: int) -> dict[str, float] | None:
    """The shortest span holding rpm + 1 requests (under 60 s means the budget was broken)."""
    if len(times) <= rpm:
        return None
    spans = [(times[i + rpm] - times[i], i) for i in range(len(times) - rpm)]
    seconds, first = min(spans)
    return {"first": first, "seconds": seconds}
