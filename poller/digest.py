"""The one boundary for heavy work: a response's raw body in, its rendered families out.

Decoding, normalizing, rendering and compressing a 100k-sample response takes the better part
of a second of CPU. All of it runs in a worker process, which hands back ready bytes: the event
loop never holds the GIL for it, so scrapes and health checks are answered while it runs, and
the process's memory peak stays in the worker.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import select
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from poller.config.model import QueryType
from poller.counters import CounterSpec, normalize_counter
from poller.errors import PollerError
from poller.normalize import normalize_aggregate, normalize_observation
from poller.render import RenderedFamily, render_snapshot
from poller.responses import ObservationResponse, decode

Digested = dict[str, RenderedFamily]


def digest(
    kind: QueryType,
    query: str,
    body: bytes,
    now: float,
    counter: CounterSpec | None = None,
    org: str = "",
) -> Digested:
    """A query's raw 200 body, answered at `now` (Unix seconds) -> its families, rendered;
    `counter` for a counter-mode query, `org` for an org of `orgs:`. Pure; raises
    NormalizeError."""
    response = decode(kind, body)
    if isinstance(response, ObservationResponse):
        snapshot = normalize_observation(query, response, now, org)
    elif counter is not None:
        snapshot = normalize_counter(query, response, counter, org)
    else:
        snapshot = normalize_aggregate(query, response, org)
    return render_snapshot(snapshot)


def _end_with(daemon: int) -> None:
    """Run in the worker at its start: end it when the daemon ends, however it ends.

    A worker waiting for work holds its own queue's write end, and with it the forkserver
    alive: after a SIGKILL of the daemon both would wait forever, holding its stdout and
    stderr. A pidfd becomes readable when the process exits; where there is none (an old
    kernel, a seccomp filter), the daemon is looked for once a second."""
    try:
        watched: int | None = os.pidfd_open(daemon)
    except (AttributeError, OSError):
        watched = None

    def watch() -> None:
        if watched is not None:
            select.select([watched], [], [])
        else:
            while os.getppid() != 1 and _alive(daemon):
                time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="end-with-daemon", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _ready() -> None:
    """Nothing: run once to have the worker started."""


class Digester:
    """Runs `digest` in a worker process (or in `executor`, for tests that need no process)."""

    def __init__(self, executor: Executor | None = None) -> None:
        self._given = executor
        self._pool: Executor | None = executor

    def _executor(self) -> Executor:
        if self._pool is None:
            # forkserver: workers start from a clean, single-threaded server process, never as
            # a fork of this one with its event loop and threads.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["poller.digest"])
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=context, initializer=_end_with, initargs=(os.getpid(),)
            )
        return self._pool

    async def start(self) -> None:
        """Start the worker now, off the loop, instead of at the first poll: starting the
        forkserver and importing what the worker needs takes a tenth of a second or more."""
        await asyncio.to_thread(lambda: self._executor().submit(_ready).result())

    async def digest(
        self,
        kind: QueryType,
        query: str,
        body: bytes,
        now: float,
        counter: CounterSpec | None = None,
        org: str = "",
    ) -> Digested:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor(), digest, kind, query, body, now, counter, org
            )
        except BrokenProcessPool:
            # The worker died (killed, out of memory): start a new one for the next poll.
            await self.close()
            raise PollerError(
                "the worker process that decodes responses died; it restarts for the next poll"
            ) from None

    async def close(self) -> None:
        """Stop the worker, waiting (off the loop) for a digest it is in the middle of, so that
        it ends cleanly and leaves nothing behind."""
        pool, self._pool = self._pool, self._given
        if pool is not None and pool is not self._given:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
