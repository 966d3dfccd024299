"""The one boundary for heavy work: a response's raw body in, its rendered families out.

Decoding, normalizing and rendering a response costs CPU in proportion to its size: about 4 ms
per 100 KB of JSON on an idle core here, the better part of a second for 100k samples. Where it
runs follows the body's size:
- up to INLINE_LIMIT, in one thread of the daemon. The thread holds the GIL while it works, but
  Python hands the GIL back to the event loop every switch interval (5 ms), except inside one C
  call: for a body this size those calls are short, so the loop stays responsive, and no other
  process costs memory;
- above it, in a worker process that hands back the rendered text: the loop never waits for the
  GIL, and the digest's memory peak stays in the worker. The worker starts at the first such
  body (off the loop), or at start-up when asked to (`server.decode_worker: at_start`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import select
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from poller.config.model import QueryType
from poller.counters import CounterSpec, normalize_counter
from poller.errors import PollerError
from poller.normalize import normalize_aggregate, normalize_observation
from poller.render import RenderedFamily, render_snapshot
from poller.responses import ObservationResponse, decode

Digested = dict[str, RenderedFamily]

# Bodies up to this size are digested in a thread, larger ones in the worker process. Chosen by
# measuring (`python -m tests.bench.threshold`, 2 cores, load average ~6.5 from other work): a
# 0.86 MiB body (10k samples) took 55 to 128 ms to digest (about 35 ms on an idle machine), and
# while a thread digested it the event loop's longest block was 13 to 15 ms (median of 5; 4 ms
# with no digest running). Past 1 MiB the blocks grow with the body, since msgspec's decode and
# the render's join keep the GIL for a whole C call: 23 to 31 ms at 1.7 MiB, 90 to 110 ms at
# 4.3 MiB. Up to here the loop stays responsive and no second process is needed.
INLINE_LIMIT = 1 << 20


@dataclass(frozen=True, slots=True)
class DigestJob:
    """One query's raw 200 body, answered at `now` (Unix seconds); `counter` for a counter-mode
    query, `org` for an org of `orgs:`."""

    kind: QueryType
    query: str
    body: bytes
    now: float
    counter: CounterSpec | None = None
    org: str = ""


def digest(job: DigestJob) -> Digested:
    """A job's body -> its families, rendered. Pure; raises NormalizeError."""
    response = decode(job.kind, job.body)
    if isinstance(response, ObservationResponse):
        snapshot = normalize_observation(job.query, response, job.now, job.org)
    elif job.counter is not None:
        snapshot = normalize_counter(job.query, response, job.counter, job.org)
    else:
        snapshot = normalize_aggregate(job.query, response, job.org)
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
    """Runs `digest` off the event loop: in a thread for a body up to `inline_limit` bytes, in
    a worker process above it. `start_worker`: start the worker at `start()` rather than at the
    first large body."""

    def __init__(self, *, start_worker: bool = False, inline_limit: int = INLINE_LIMIT) -> None:
        self._start_worker = start_worker
        self._inline_limit = inline_limit
        # One thread: digests run one at a time, so the loop competes for the GIL with one.
        self._thread: ThreadPoolExecutor | None = None
        self._worker: Executor | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Start the worker now if asked to at start-up: it takes a tenth of a second or more
        (the forkserver imports what the worker needs), better spent before the server listens
        than at the first large poll."""
        if self._start_worker:
            await self._running_worker()

    async def digest(self, job: DigestJob) -> Digested:
        loop = asyncio.get_running_loop()
        if len(job.body) <= self._inline_limit:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest")
            return await loop.run_in_executor(self._thread, digest, job)
        try:
            return await loop.run_in_executor(await self._running_worker(), digest, job)
        except BrokenProcessPool:
            # The worker died (killed, out of memory): a new one starts for the next large body.
            await self._stop_worker()
            raise PollerError(
                "the worker process that decodes responses died; it restarts for the next poll"
            ) from None

    async def _running_worker(self) -> Executor:
        """The worker process, started (off the loop) if it is not running."""
        async with self._starting:
            worker = self._worker
            if worker is None:
                # forkserver: the worker starts from a clean, single-threaded server process,
                # never as a fork of this one with its event loop and threads.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["poller.digest"])
                # Kept from here on, so that close() ends it even if this start is cancelled.
                pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=context,
                    initializer=_end_with,
                    initargs=(os.getpid(),),
                )
                self._worker = worker = pool
                # The first submit starts the processes and waits for them: not on the loop.
                await asyncio.to_thread(lambda: pool.submit(_ready).result())
            return worker

    async def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await asyncio.to_thread(worker.shutdown, wait=True, cancel_futures=True)

    async def close(self) -> None:
        """Stop the thread and the worker, waiting (off the loop) for a digest either is in the
        middle of, so that they end cleanly and leave nothing behind."""
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.shutdown, wait=True, cancel_futures=True)
        await self._stop_worker()
