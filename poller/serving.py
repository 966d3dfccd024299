"""Serving and signals: the HTTP server and the schedule started together, and a run until
SIGTERM or SIGINT, with SIGHUP reloading the config."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from poller import scope
from poller.binding import binding
from poller.config.webconfig import WebConfig
from poller.daemon import Daemon
from poller.server import build_app

log = structlog.get_logger("poller.serving")
LISTEN_FIX = "choose a free address with --web.listen-address HOST:PORT"


async def serve(
    daemon: Daemon,
    host: str,
    port: int,
    web_config: WebConfig | None = None,
    *,
    schedule: bool = True,
    enable_lifecycle: bool = False,
    in_use: str = LISTEN_FIX,
) -> web.AppRunner:
    """Start the HTTP server and (unless told not to) the schedule; returns the runner, its
    sockets bound. An address already in use raises AddressInUse, which ends with `in_use`."""
    await daemon.digester.start()
    state = daemon.server_state(enable_lifecycle=enable_lifecycle)
    runner = web.AppRunner(build_app(state, web_config), access_log=None)
    await runner.setup()
    ssl_context = web_config.ssl_context if web_config else None
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    try:
        with binding(listen_text(host, port), in_use):
            await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    if schedule:
        daemon.start_schedule()
    return runner


def listen_text(host: str, port: int) -> str:
    """HOST:PORT as a user writes it ([::1]:9864 for IPv6)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bound_addresses(runner: web.AppRunner) -> list[str]:
    out = []
    for addr in runner.addresses:
        host, port = addr[0], addr[1]
        out.append(listen_text(str(host), port))
    return out


async def run_until_signalled(
    daemon: Daemon,
    host: str,
    port: int,
    web_config: WebConfig | None = None,
    on_started: Callable[[list[str]], None] | None = None,
    *,
    enable_lifecycle: bool = False,
    in_use: str = LISTEN_FIX,
) -> int:
    """Serve until SIGTERM or SIGINT; SIGHUP reloads the config (and POST /-/reload too, with
    `enable_lifecycle`). Returns the exit code. `in_use` as in `serve`."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    try:
        runner = await serve(
            daemon, host, port, web_config, enable_lifecycle=enable_lifecycle, in_use=in_use
        )
    except BaseException:
        await daemon.stop()
        raise
    if on_started is not None:
        on_started(bound_addresses(runner))
    log.info(
        "started",
        listen=bound_addresses(runner),
        queries=list(daemon.pollers),
        **_started_fields(daemon),
    )
    reloads: set[asyncio.Task[tuple[bool, str]]] = set()

    def on_hup() -> None:
        task = loop.create_task(daemon.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await stop.wait()
    finally:
        # The handlers stay until the stop is done: a second SIGTERM (make and some process
        # managers pass one on to children they already signalled) must not cut it short.
        loop.remove_signal_handler(signal.SIGHUP)
        log.info("stopping")
        await daemon.stop()
        await runner.cleanup()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("stopped")
    return 0


def _started_fields(daemon: Daemon) -> dict[str, Any]:
    """What the started line says about the orgs: with `orgs:`, this replica's share of them;
    without, where the one org's API is."""
    config = daemon.config
    if scope.labelled(config):
        return {
            "orgs": sorted(daemon.orgs),
            "shard": daemon.shard.index,
            "shards": daemon.shard.count,
        }
    return {"api": config.genesys.api_base_url}
