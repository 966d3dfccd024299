"""Stopping and reloading: signals and POST /-/reload to a real `python -m poller run` child
(its simulator runs in this test's event loop), and POST /-/reload against an in-process
daemon."""

from __future__ import annotations

import asyncio
import gc
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.reliability.reliability_support import (
    AGGREGATE,
    BOTH,
    DaemonProcess,
    SimFactory,
    Spawn,
    Watch,
    daemon_env,
    http_get,
    sessions,
)
from tests.support.config import aggregate
from tests.support.exposition import Exposition
from tests.support.process import listening
from tests.support.stack import Stack, StackFactory, config_text
from tests.support.wait import WITHIN, wait_until

ADDED = aggregate("flows_30m", every="1s", window="30m")
INVALID = BOTH.replace("metrics: [nFlow, tFlow]", "metrics: [nFlows]")
RELOAD_OK = "genesyscloud_poller_config_last_reload_successful"
RELOAD_TIME = "genesyscloud_poller_config_last_reload_success_timestamp_seconds"


async def run_daemon(
    spawn: Spawn, tmp_path: Path, sim_url: str, queries: str = BOTH, *flags: str
) -> tuple[DaemonProcess, Path, str]:
    config = tmp_path / "poller.yaml"
    config.write_text(config_text(queries))
    proc = await spawn(
        ["run", "--config", str(config), "--log.level", "debug", *flags], daemon_env(sim_url)
    )
    return proc, config, await listening(proc)


async def scrape_of(url: str, proc: DaemonProcess) -> Exposition:
    status, body = await http_get(url + "/metrics", proc.leaks)
    assert status == 200
    return Exposition(body)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_stops_cleanly_within_5s_with_polls_in_flight(
    sig: signal.Signals, tmp_path: Path, sim_factory: SimFactory, spawn: Spawn
) -> None:
    """With both polls stuck on a 30 s login, SIGTERM/SIGINT still ends the process with exit
    code 0 within 5 s, logging stopping then stopped, with nothing on stderr (no traceback, no
    unclosed session, no job error)."""
    simulator, held = await sim_factory(faults="latency=30s")
    proc, _, url = await run_daemon(spawn, tmp_path, simulator.base_url)

    async def in_flight() -> bool:
        scrape = await scrape_of(url, proc)
        polls = scrape.total("genesyscloud_poller_polls_total")
        return held.holding >= 1 and polls >= 2

    await wait_until(in_flight, within=WITHIN, what="both polls waiting on the held login")
    took = await proc.stopped(sig, within=5)
    assert proc.proc.returncode == 0
    assert took < 5
    assert [e["event"] for e in proc.events][-2:] == ["stopping", "stopped"]
    assert proc.named("poll_crashed") == []
    assert proc.errors == ""
    with pytest.raises(aiohttp.ClientConnectionError):
        await http_get(url + "/healthz", proc.leaks)


async def test_sighup_applies_valid_config_and_keeps_old_on_invalid(
    tmp_path: Path, sim_factory: SimFactory, spawn: Spawn
) -> None:
    """SIGHUP with a valid file keeps the unchanged query's series, adds the new query and
    marks the reload successful; with an invalid file it logs why, marks the reload failed,
    and the running queries keep polling."""
    simulator, _ = await sim_factory()
    proc, config, url = await run_daemon(spawn, tmp_path, simulator.base_url)

    async def ready() -> bool:
        return (await http_get(url + "/readyz", proc.leaks))[0] == 200

    await wait_until(ready, within=WITHIN, what="the daemon to be ready")
    before = await scrape_of(url, proc)
    assert before.get(RELOAD_OK) == 1

    config.write_text(config_text(AGGREGATE + ADDED))
    mark = len(proc.events)
    proc.send(signal.SIGHUP)
    event = await proc.event("config_reloaded", after=mark)
    assert event["queries"] == ["flows", "flows_30m"]
    right_after = await scrape_of(url, proc)
    assert right_after.flow_series("flows"), "the unchanged query kept its series"
    assert right_after.up("flows") == 1
    assert right_after.up("flows_30m") is not None, "the added query is there at once"
    assert right_after.up("active") is None, "the removed query is gone"
    assert right_after.flow_series("active") == {}
    assert right_after.get(RELOAD_OK) == 1
    assert right_after.get(RELOAD_TIME) > before.get(RELOAD_TIME)  # type: ignore[operator]

    async def added_polled() -> bool:
        return bool((await scrape_of(url, proc)).flow_series("flows_30m"))

    await wait_until(added_polled, within=WITHIN, what="the added query's series")

    config.write_text(config_text(INVALID))
    mark = len(proc.events)
    proc.send(signal.SIGHUP)
    failed = await proc.event("config_reload_failed", after=mark)
    assert any("nFlows" in p and "did you mean 'nFlow'" in p for p in failed["problems"]), failed
    rejected = await scrape_of(url, proc)
    assert rejected.get(RELOAD_OK) == 0
    assert rejected.get(RELOAD_TIME) == right_after.get(RELOAD_TIME)

    polls = rejected.get("genesyscloud_poller_polls_total", query="flows") or 0

    async def still_polling() -> bool:
        scrape = await scrape_of(url, proc)
        return (scrape.get("genesyscloud_poller_polls_total", query="flows") or 0) > polls

    await wait_until(still_polling, within=WITHIN, what="the old config to keep polling")
    assert (await scrape_of(url, proc)).up("flows_30m") == 1
    took = await proc.stopped()
    assert proc.proc.returncode == 0
    assert took < 5


async def test_post_reload_is_403_without_the_flag_and_sighup_still_reloads(
    tmp_path: Path, sim_factory: SimFactory, spawn: Spawn
) -> None:
    """A `run` without --web.enable-lifecycle answers POST /-/reload with 403 and a plain
    message naming the flag, and leaves the config alone; SIGHUP then reloads it."""
    simulator, _ = await sim_factory()
    proc, config, url = await run_daemon(spawn, tmp_path, simulator.base_url)
    config.write_text(config_text(AGGREGATE + ADDED))
    mark = len(proc.events)

    status, body = await http_get(url + "/-/reload", proc.leaks, method="POST")
    assert status == 403
    assert body == (
        "Lifecycle API is not enabled: start the poller with --web.enable-lifecycle to allow "
        "POST /-/reload (SIGHUP reloads either way).\n"
    )
    scrape = await scrape_of(url, proc)
    assert scrape.up("active") is not None, "the running config stays"
    assert scrape.up("flows_30m") is None
    assert proc.named("config_reloaded") == []

    proc.send(signal.SIGHUP)
    event = await proc.event("config_reloaded", after=mark)
    assert event["queries"] == ["flows", "flows_30m"]
    await proc.stopped()
    assert proc.proc.returncode == 0


async def test_post_reload_reloads_with_the_flag(
    tmp_path: Path, sim_factory: SimFactory, spawn: Spawn
) -> None:
    """A `run --web.enable-lifecycle` answers POST /-/reload with 200 and applies the file."""
    simulator, _ = await sim_factory()
    proc, config, url = await run_daemon(
        spawn, tmp_path, simulator.base_url, BOTH, "--web.enable-lifecycle"
    )
    config.write_text(config_text(AGGREGATE + ADDED))
    mark = len(proc.events)

    status, body = await http_get(url + "/-/reload", proc.leaks, method="POST")
    assert (status, body) == (200, '{"status": "ok", "message": "reloaded"}')
    event = await proc.event("config_reloaded", after=mark)
    assert event["queries"] == ["flows", "flows_30m"]
    scrape = await scrape_of(url, proc)
    assert scrape.up("flows_30m") is not None
    assert scrape.up("active") is None
    await proc.stopped()
    assert proc.proc.returncode == 0


async def test_post_reload_answers_and_metrics_say_which(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """POST /-/reload answers 200 and applies a valid file (a changed query keeps its series
    and up until its next poll); an invalid one gets 500 naming the problem, a logged reason,
    and the reload gauge 0, while the running config stays."""
    stack = await stack_factory(schedule=False, lifecycle=True)
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    before = await stack.scrape()

    stack.text = config_text(BOTH.replace("window: 1h", "window: 30m") + ADDED)
    status, body = await stack.post("/-/reload")
    assert (status, body) == (200, '{"status": "ok", "message": "reloaded"}')
    after = await stack.scrape()
    assert after.flow_series("flows") == before.flow_series("flows")
    assert after.flow_series("active") == before.flow_series("active")
    assert after.up("flows") == 1, "a changed query is not down just because it changed"
    assert after.up("flows_30m") == 0
    assert after.get(RELOAD_OK) == 1
    assert after.get(RELOAD_TIME) >= before.get(RELOAD_TIME)  # type: ignore[operator]

    stack.text = config_text(INVALID)
    status, body = await stack.post("/-/reload")
    assert status == 500
    assert "nFlows" in body
    [event] = watch.events("config_reload_failed")
    assert any("nFlows" in p for p in event["problems"])
    rejected = await stack.scrape()
    assert rejected.get(RELOAD_OK) == 0
    assert rejected.get(RELOAD_TIME) == after.get(RELOAD_TIME)
    assert await stack.daemon.poll_all() == {"flows": True, "active": True, "flows_30m": True}


async def test_a_reload_that_changes_the_server_section_waits_for_a_restart(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """A reload that changes server.listen answers 200 with a body that says the new address
    waits for a restart, logs config_reload_server_ignored with the reason, and the server goes
    on answering where it listened."""
    stack = await stack_factory(schedule=False, lifecycle=True)
    running = stack.daemon.config.server
    stack.text = config_text(BOTH, listen="127.0.0.1:1")
    status, body = await stack.post("/-/reload")
    assert (status, json.loads(body)) == (
        200,
        {
            "status": "ok",
            "message": f"reloaded, except server.listen {running.host}:{running.port} -> "
            "127.0.0.1:1: the server section (listen, decode_worker) takes effect at the next "
            "start; restart the poller to apply it",
        },
    )
    [event] = watch.events("config_reload_server_ignored")
    assert event["reason"] == (
        "the server section (listen, decode_worker) takes effect at the next start"
    )
    assert event["changed"] == f"server.listen {running.host}:{running.port} -> 127.0.0.1:1"
    assert (await stack.get("/healthz"))[0] == 200
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}


async def test_query_removed_mid_poll_does_not_come_back(stack_factory: StackFactory) -> None:
    """A reload that removes a query whose poll is in flight: when that poll would have
    finished, neither its series nor its query_up reappear."""
    stack = await stack_factory(schedule=False, lifecycle=True)
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    stack.faults("latency=500ms")
    poll = asyncio.ensure_future(stack.daemon.poll("active"))
    await wait_until(_held(stack), within=WITHIN, what="the active poll to be in flight")
    stack.text = config_text(AGGREGATE)
    assert (await stack.post("/-/reload"))[0] == 200
    await asyncio.wait([poll], timeout=3)
    assert poll.cancelled()
    stack.simulator.clear_faults()
    assert await stack.daemon.poll_all() == {"flows": True}
    scrape = await stack.scrape()
    assert scrape.flow_series("active") == {}
    assert scrape.up("active") is None


async def test_api_change_mid_poll_leaves_no_session_open(
    stack_factory: StackFactory, watch: Watch
) -> None:
    """A reload that changes the genesys settings while a poll is in flight abandons that poll
    (no failure logged), closes the old HTTP client without leaving a session open, and the
    next poll succeeds with the new settings."""
    stack = await stack_factory(schedule=False, lifecycle=True)
    existing = {id(s) for s in sessions()}
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    stack.faults("latency=500ms")
    poll = asyncio.ensure_future(stack.daemon.poll("flows"))
    await wait_until(_held(stack), within=WITHIN, what="the flows poll to be in flight")
    stack.text = config_text(BOTH, timeout="4s")
    assert (await stack.post("/-/reload"))[0] == 200
    await asyncio.wait([poll], timeout=3)
    assert poll.cancelled()
    assert watch.events("poll_failing") == []
    stack.simulator.clear_faults()
    assert await stack.daemon.poll_all() == {"flows": True, "active": True}
    await stack.daemon.stop()
    gc.collect()
    assert [s for s in sessions() if id(s) not in existing and not s.closed] == []
    unclosed = [e["message"] for e in watch.loop_errors if "Unclosed" in str(e.get("message"))]
    assert unclosed == []


def _held(stack: Stack) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return stack.sim_sleep.holding >= 1

    return check
