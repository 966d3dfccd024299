"""The one boundary for heavy work: a response's raw body in, its rendered families out.

Decoding, normalizing and rendering a response costs CPU in proportion to its size: about 4 ms
per 100 KB of JSON on an idle core here, the better part of a second for 100k samples. Where it
runs follows the body's size:
- up to INLINE_LIMIT, in one thread of the daemon. The thread holds the GIL while it works, but
  Python hands the GIL back to the event loop every switch interval (5 ms), except inside one C
  call: for a body this size those calls are short, so the loop stays responsive, and no other
  process costs memory;
- above it, in a worker process that hands back the rendered text: the loop never waits for the
  GIL, and the digest's memory stays in the worker, in a fork of it that exits once it has
  replied (see serve_worker). The worker starts at the first such body (off the loop), or at
  start-up when asked to (`server.decode_worker: at_start`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import mmap
import os
import pickle
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import cast

from poller.config.model import QueryType
from poller.counters import CounterSpec, normalize_counter
from poller.errors import PollerError
from poller.normalize import normalize_aggregate, normalize_observation
from poller.render import RenderedFamily, Text, render_snapshot
from poller.responses import ObservationResponse, decode
from poller.serieslimit import check_series_limit

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
    query, `org` for an org of `orgs:`; `max_series` the query's limit (None: no limit),
    `group_by` its dimensions (to name the one to drop past the limit)."""

    kind: QueryType
    query: str
    body: bytes
    now: float
    counter: CounterSpec | None = None
    org: str = ""
    max_series: int | None = None
    group_by: tuple[str, ...] = ()


def digest(job: DigestJob) -> Digested:
    """A job's body -> its families, rendered. Pure; raises NormalizeError, or
    SeriesLimitError when the result has more series than the job's max_series."""
    response = decode(job.kind, job.body)
    if isinstance(response, ObservationResponse):
        snapshot = normalize_observation(job.query, response, job.now, job.org)
    elif job.counter is not None:
        snapshot = normalize_counter(job.query, response, job.counter, job.org)
    else:
        snapshot = normalize_aggregate(job.query, response, job.org)
    if job.max_series is not None:
        check_series_limit(snapshot, job.max_series, job.group_by)
    return render_snapshot(snapshot)


# The worker's program: an interpreter of its own that imports this module and what `digest`
# needs, none of the daemon's (its __main__, server, scheduler, client), from where the daemon
# imports them (its sys.path follows as arguments).
_WORKER_MAIN = (
    "import sys; sys.path[:] = sys.argv[1:]; from poller.digest import serve_worker; serve_worker()"
)
_READY = b"R"  # the worker to the daemon: imported, waiting for jobs
_JOB = b"J"  # the daemon to the worker: a job follows
_PROTOCOL = pickle.HIGHEST_PROTOCOL


def serve_worker() -> None:
    """The worker process: for each job the daemon sends, a fork of this process that reads it,
    digests it, writes the families back and exits. Ends when its input ends: the daemon closed
    it, or ended however it ended (its end of the pipe closes with it).

    A fork per job keeps nothing between digests: the memory a digest of 100k samples takes (the
    decoded response, the snapshot, the text) goes back to the system when the fork exits,
    whatever the allocator would keep of it in a long-lived process. What stays is this
    process's imports, shared with each fork. The job and the reply cross the pipes as pickles
    read from and written to the pipe a frame at a time: a large bytes object (the body, a
    family's text) goes straight between the pipe and its one buffer, never through a copy of
    the whole message."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the daemon's to act on
    # The pipes move to descriptors of their own: a stray print cannot corrupt the exchange.
    jobs, replies = os.dup(0), os.dup(1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    os.write(replies, _READY)
    while os.read(jobs, 1) == _JOB:
        pid = os.fork()
        if pid == 0:
            os._exit(_digest_one(jobs, replies))
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            # The fork died or the daemon went away mid-job: the pipes may hold half a message,
            # so this worker ends too and the daemon starts a new one.
            return


def _digest_one(jobs: int, replies: int) -> int:
    """In a digest fork: one job in, its reply out; the fork's exit status."""
    try:
        with os.fdopen(jobs, "rb", closefd=False) as source:
            job = pickle.load(source)  # noqa: S301 - from the daemon, this process's parent
        try:
            families = digest(job)
        except Exception as exc:  # every failure is the daemon's to report
            reply: tuple[bool, object] = (False, _portable(exc))
            texts: list[Text] = []
        else:
            # The families without their text, then each text's bytes as they are.
            texts = [family.text for family in families.values()]
            shells = {name: replace(family, text=b"") for name, family in families.items()}
            reply = (True, (shells, [len(text) for text in texts]))
        with os.fdopen(replies, "wb", closefd=False) as sink:
            pickle.dump(reply, sink, protocol=_PROTOCOL)
            for text in texts:
                sink.write(text)
    except BaseException:  # the pipes are broken: the worker ends
        return 1
    return 0


def _portable(exc: Exception) -> Exception:
    """`exc` if it survives a pickle, else a PollerError with its message."""
    try:
        pickle.loads(pickle.dumps(exc, protocol=_PROTOCOL))  # noqa: S301 - its own pickle
    except Exception:
        return PollerError(f"digest failed: {type(exc).__name__}: {exc}")
    return exc


def _mapped(source: io.BufferedReader, size: int) -> Text:
    """The next `size` bytes of `source`, read into an anonymous mapping of their own.

    A family's text is the daemon's largest piece of memory (30 MB at 100k series), held until
    the next poll replaces it. Allocated from the heap, the new text would be placed beside the
    old one and the old one's space left free behind it: glibc keeps such space for reuse, so a
    heap would settle at twice the text. A mapping of its own is unmapped when the store lets
    go of it, the moment the next poll's text replaces it."""
    if size == 0:
        return b""
    view = memoryview(mmap.mmap(-1, size))
    done = 0
    while done < size:
        got = source.readinto(view[done:])
        if not got:
            raise EOFError("the worker's reply ended early")
        done += got
    return view.toreadonly()


class WorkerDiedError(Exception):
    """The worker process ended (killed, out of memory) or never started."""


class _Worker:
    """The worker process and the daemon's ends of its pipes. Blocking: used from one thread."""

    def __init__(self) -> None:
        # Started, never forked from this process with its event loop and threads.
        self._proc = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed program
            [sys.executable, "-c", _WORKER_MAIN, *sys.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._jobs = self._proc.stdin
        # Popen's pipes are buffered readers and writers (bufsize -1).
        self._replies = cast(io.BufferedReader, self._proc.stdout)
        if self._replies.read(1) != _READY:
            self.close()
            raise WorkerDiedError("the worker process did not start")

    def run(self, job: DigestJob) -> Digested:
        try:
            self._jobs.write(_JOB)
            pickle.dump(job, self._jobs, protocol=_PROTOCOL)
            self._jobs.flush()
            ok, value = pickle.load(self._replies)  # noqa: S301 - from our own worker
            if ok:
                shells, sizes = cast(tuple[Digested, list[int]], value)
                return {
                    name: replace(shell, text=_mapped(self._replies, size))
                    for (name, shell), size in zip(shells.items(), sizes, strict=True)
                }
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            raise WorkerDiedError(str(exc)) from exc
        raise cast(Exception, value)  # the digest's own error (a NormalizeError, say)

    def close(self) -> None:
        """Close its input, which ends it; wait for it to exit."""
        with contextlib.suppress(OSError):
            self._jobs.close()
        try:
            self._proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._replies.close()


# How long a worker has to exit once its input is closed (it finishes the digest in hand).
_STOP_TIMEOUT = 30.0


class Digester:
    """Runs `digest` off the event loop: in a thread for a body up to `inline_limit` bytes, in
    the worker process above it. `start_worker`: start the worker at `start()` rather than at
    the first large body."""

    def __init__(self, *, start_worker: bool = False, inline_limit: int = INLINE_LIMIT) -> None:
        self._start_worker = start_worker
        self._inline_limit = inline_limit
        # One thread: digests run one at a time, so the loop competes for the GIL with one.
        self._thread: ThreadPoolExecutor | None = None
        # One thread talks to the worker: it waits on the pipes, holding no GIL while it does.
        self._exchange: ThreadPoolExecutor | None = None
        self._worker: _Worker | None = None

    async def start(self) -> None:
        """Start the worker now if asked to at start-up: it takes a tenth of a second or more
        (its interpreter imports what it needs), better spent before the server listens than at
        the first large poll."""
        if self._start_worker:
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._exchanger(), self._running)
            except WorkerDiedError as exc:
                raise PollerError(f"the worker process that decodes responses: {exc}") from None

    async def digest(self, job: DigestJob) -> Digested:
        loop = asyncio.get_running_loop()
        if len(job.body) <= self._inline_limit:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest")
            return await loop.run_in_executor(self._thread, digest, job)
        return await loop.run_in_executor(self._exchanger(), self._in_worker, job)

    def _exchanger(self) -> ThreadPoolExecutor:
        if self._exchange is None:
            self._exchange = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-worker")
        return self._exchange

    def _running(self) -> _Worker:
        """The worker process, started if it is not running. In the exchange thread."""
        if self._worker is None:
            self._worker = _Worker()
        return self._worker

    def _in_worker(self, job: DigestJob) -> Digested:
        """`job` digested by the worker. In the exchange thread, so one job at a time."""
        try:
            return self._running().run(job)
        except WorkerDiedError:
            # The worker died (killed, out of memory): a new one starts for the next large body.
            self._stop_worker()
            raise PollerError(
                "the worker process that decodes responses died; it restarts for the next poll"
            ) from None

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()

    async def close(self) -> None:
        """Stop the thread and the worker, waiting (off the loop) for a digest either is in the
        middle of, so that they end cleanly and leave nothing behind."""
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.shutdown, wait=True, cancel_futures=True)
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            await asyncio.to_thread(exchange.shutdown, wait=True, cancel_futures=True)
        await asyncio.to_thread(self._stop_worker)
