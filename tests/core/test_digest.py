"""The one boundary for heavy work: a small body is digested in a thread, a large one in a worker
process that starts when the first one comes (or at start-up when asked), hands back the same
families, fails a poll cleanly when it dies, and never outlives the daemon."""

from __future__ import annotations

import json
import mmap
import os
import signal
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from poller.config import parse_config
from poller.config.model import Credentials, Secret
from poller.daemon import Daemon
from poller.digest import INLINE_LIMIT, Digester, DigestJob, digest
from poller.errors import ConfigError, NormalizeError, PollerError
from poller.serieslimit import SeriesLimitError
from tests.support.demo import START_TIMEOUT, Demo, demo_command
from tests.support.process import Child, listen_url, poller
from tests.support.wait import wait_for

RESPONSE = json.dumps(
    {
        "results": [
            {
                "group": {"flowId": "f1", "flowName": 'Main "IVR"'},
                "data": [{"metrics": [{"metric": "nFlow", "stats": {"count": 3}}]}],
            }
        ]
    }
).encode()
SMALL = DigestJob("aggregate", "flows", RESPONSE, 0.0)


def large_job() -> DigestJob:
    """A job whose body is just over INLINE_LIMIT."""
    results: list[object] = []
    body = b""
    while len(body) <= INLINE_LIMIT:
        results += [
            {
                "group": {"flowId": f"flow-{len(results) + i:06d}"},
                "data": [{"metrics": [{"metric": "nFlow", "stats": {"count": i}}]}],
            }
            for i in range(1000)
        ]
        body = json.dumps({"results": results}).encode()
    return DigestJob("aggregate", "flows", body, 0.0)


@pytest.fixture
async def digester() -> AsyncIterator[Digester]:
    worker = Digester()
    yield worker
    await worker.close()


@pytest.fixture
async def worker_only() -> AsyncIterator[Digester]:
    """A digester that sends every body, however small, to the worker process."""
    worker = Digester(inline_limit=-1)
    yield worker
    await worker.close()


def descendants(pid: int) -> set[int]:
    """The processes `pid` started, and theirs."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, found):
            out |= {child, *descendants(child)}
    return out


def workers() -> set[int]:
    """Digest workers of this process: the worker process it started and, while a digest runs,
    the worker's fork for it, known by their program. Other children of the test process (one
    an earlier test started, still exiting or not yet reaped) are not workers."""
    out: set[int] = set()
    for pid in descendants(os.getpid()):
        try:
            program = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        if b"serve_worker" in program:
            out.add(pid)
    return out


async def test_a_small_body_is_digested_without_a_worker_process(digester: Digester) -> None:
    """A body up to INLINE_LIMIT gives the families `digest` makes, and no process starts."""
    before = descendants(os.getpid())
    families = await digester.digest(SMALL)
    assert families == digest(SMALL)
    [entries] = families.values()
    assert (
        entries.text
        == b'genesyscloud_flow_entries{query="flows",flow_id="f1",flow_name="Main \\"IVR\\""} 3\n'
    )
    assert descendants(os.getpid()) == before


async def test_the_worker_starts_at_the_first_large_body(digester: Digester) -> None:
    """Small bodies start no worker; the first body over INLINE_LIMIT starts one, which hands
    back exactly what `digest` makes in this process."""
    await digester.digest(SMALL)
    assert not workers()
    job = large_job()
    families = await digester.digest(job)
    assert families == digest(job)
    assert sum(f.series for f in families.values()) > 1000
    assert workers(), "no worker process was started"


async def test_the_worker_can_start_with_the_daemon() -> None:
    """With start_worker, start() has the worker running before any digest; close() ends it
    and everything it started."""
    digester = Digester(start_worker=True)
    before = descendants(os.getpid())
    try:
        await digester.start()
        assert workers()
    finally:
        await digester.close()

    def ended() -> bool | None:
        return True if descendants(os.getpid()) <= before else None

    wait_for(ended, timeout=10, what="the worker processes to end")


async def test_shape_errors_cross_the_process_boundary(worker_only: Digester) -> None:
    """A response of the wrong shape raises NormalizeError here, with the worker's message."""
    with pytest.raises(NormalizeError, match=r"^results: Expected `array \| null`, got `str`$"):
        await worker_only.digest(DigestJob("aggregate", "flows", b'{"results": "nope"}', 0.0))
    assert workers()


async def test_a_killed_worker_fails_one_digest_and_is_replaced(worker_only: Digester) -> None:
    """When the worker dies, the digest in flight fails with a clear PollerError and the next
    one runs in a new worker."""
    await worker_only.digest(SMALL)
    before = workers()
    assert before
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(PollerError, match="worker process that decodes responses died"):
        await worker_only.digest(SMALL)
    families = await worker_only.digest(SMALL)
    assert families == digest(SMALL)
    replaced = workers()
    assert replaced
    assert not before & replaced


def test_a_daemon_with_small_responses_runs_no_worker_process() -> None:
    """The demo's org (small responses) is polled and ready with no process of its own."""
    demo = Demo(demo_command()).wait_started()
    try:
        assert descendants(demo.proc.pid) == set()
    finally:
        assert demo.stop() == 0


def test_worker_does_not_outlive_a_killed_daemon(tmp_path: Path) -> None:
    """A daemon running its worker (`decode_worker: at_start`); SIGKILL of the daemon leaves no
    worker behind holding its output."""
    # The worker runs from the daemon's start, whatever the API answers: no poll or org size
    # decides when it starts (a large demo org's first poll, late in the day, took minutes).
    config = tmp_path / "poller.yaml"
    config.write_text(
        "server: {listen: '127.0.0.1:0', decode_worker: at_start}\n"
        "queries:\n  - {name: flows, type: aggregate, every: 1h, metrics: [nFlow]}\n"
    )
    closed = "http://127.0.0.1:9"  # the discard port: nothing answers there
    env = {
        **os.environ,
        "GENESYS_CLIENT_ID": "id",
        "GENESYS_CLIENT_SECRET": "secret",
        "GENESYS_API_BASE_URL": closed,
        "GENESYS_LOGIN_BASE_URL": closed,
    }
    daemon = Child(poller("run", "--config", str(config)), env=env, name="run")

    def started() -> set[int] | None:
        return descendants(daemon.proc.pid) or None

    try:
        listen_url(daemon, START_TIMEOUT)
        helpers = wait_for(started, timeout=START_TIMEOUT, what="the daemon's worker process")
        os.kill(daemon.proc.pid, signal.SIGKILL)
        daemon.proc.wait(10)
    finally:
        if daemon.proc.poll() is None:
            daemon.stop()

    def gone() -> bool | None:
        alive = {pid for pid in helpers if Path(f"/proc/{pid}").exists()}
        return True if not alive else None

    wait_for(gone, timeout=10, what="the worker processes to end")
    assert daemon.output_closed(10), "something still holds the daemon's stdout"


CONFIG = """
genesys: {region: mypurecloud.ie}
server: {decode_worker: %s}
queries:
  - {name: flows, type: aggregate, every: 1m, metrics: [nFlow]}
"""


async def test_decode_worker_at_start_starts_the_worker_with_the_daemon() -> None:
    """`server.decode_worker: at_start` has the worker running once the daemon has started,
    before any poll; the default starts none."""
    for when, expected in (("at_start", True), ("on_demand", False)):
        daemon = Daemon(parse_config(CONFIG % when), Credentials("id", Secret("secret")))
        try:
            await daemon.digester.start()
            assert bool(workers()) is expected, when
        finally:
            await daemon.stop()


def test_decode_worker_takes_only_its_two_values() -> None:
    """Any other value is refused with the two that are allowed."""
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG % "always")
    assert caught.value.problems == [
        "server.decode_worker: unknown value 'always'; use 'on_demand' or 'at_start'"
    ]


DAEMON_MAIN = """
import asyncio, os, sys

# A daemon's main module: it notes each process that runs it.
with open(sys.argv[1], "a") as ran:
    ran.write(f"{os.getpid()}\\n")

from poller.digest import Digester, DigestJob


async def main() -> None:
    digester = Digester(inline_limit=-1)
    try:
        families = await digester.digest(DigestJob("aggregate", "q", BODY, 0.0))
        print(sorted(families))
    finally:
        await digester.close()


if __name__ == "__main__":
    asyncio.run(main())
"""


@pytest.mark.parametrize("how", ["script", "module"])
def test_the_worker_does_not_run_the_daemons_main_module(tmp_path: Path, how: str) -> None:
    """A daemon started as a script or with -m runs its main module once: the worker imports
    the digest and what it needs, never the daemon's main (its server, scheduler, client)."""
    (tmp_path / "daemon_main.py").write_text(DAEMON_MAIN.replace("BODY", repr(RESPONSE)))
    ran = tmp_path / "ran"
    target = ["daemon_main.py"] if how == "script" else ["-m", "daemon_main"]
    done = subprocess.run(
        [sys.executable, *target, str(ran)],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == b"['genesyscloud_flow_entries']\n"
    assert len(ran.read_text().split()) == 1


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def test_the_worker_keeps_no_memory_of_its_digests() -> None:
    """Each large body is digested in a fork of the worker that exits with its memory: the
    worker weighs the same after three digests as before the first."""
    digester = Digester(start_worker=True)
    try:
        await digester.start()
        [worker] = workers()
        before = rss(worker)
        job = large_job()
        for _ in range(3):
            assert await digester.digest(job) == digest(job)
        assert workers() == {worker}
        assert rss(worker) - before < 512 * 1024
    finally:
        await digester.close()


async def test_the_reply_is_read_without_a_copy_of_the_whole(worker_only: Digester) -> None:
    """The families come back without the daemon ever holding the reply in one buffer: what it
    allocates beyond the families it keeps is a small part of their text, and each text is read
    into a mapping of its own."""
    job = large_job()
    await worker_only.start()
    await worker_only.digest(SMALL)  # the worker runs; its start is not counted
    tracemalloc.start()
    try:
        families = await worker_only.digest(job)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert families == digest(job)
    text = sum(len(family.text) for family in families.values())
    assert text > 500_000
    assert peak - held < text // 2
    # each text is held in a mapping of its own, unmapped when the store lets go of it
    for family in families.values():
        assert isinstance(family.text, memoryview)
        assert isinstance(family.text.obj, mmap.mmap)
        assert len(family.text.obj) == len(family.text)


def counted_job(max_series: int, group_by: tuple[str, ...] = ("flowId", "mediaType")) -> DigestJob:
    """Six series of nFlow: f1 and f2 on voice and chat, f3 on voice (sent twice, merged into
    one series), f4 on chat (2 + 2 + 1 + 1 = 6), so flowId has 4 distinct values and mediaType
    2."""
    results = [
        {
            "group": {"flowId": flow, "mediaType": media},
            "data": [{"metrics": [{"metric": "nFlow", "stats": {"count": 1}}]}],
        }
        for flow, media in (
            ("f1", "voice"),
            ("f1", "chat"),
            ("f2", "voice"),
            ("f2", "chat"),
            ("f3", "voice"),
            ("f3", "voice"),  # the same group twice: one series
            ("f4", "chat"),
        )
    ]
    body = json.dumps({"results": results}).encode()
    return DigestJob("aggregate", "flows", body, 0.0, max_series=max_series, group_by=group_by)


def test_a_result_at_its_max_series_is_digested() -> None:
    """Six distinct groups under max_series 6: all six series, no refusal."""
    families = digest(counted_job(6))
    assert sum(f.series for f in families.values()) == 6


def test_a_result_over_its_max_series_is_refused_naming_the_widest_dimension() -> None:
    """Six series against max_series 5: SeriesLimitError with the count, the limit and flowId
    (4 distinct values against mediaType's 2) as the dimension to drop."""
    with pytest.raises(SeriesLimitError) as refused:
        digest(counted_job(5))
    err = refused.value
    assert (err.series, err.limit, err.dimension, err.distinct) == (6, 5, "flowId", 4)
    assert str(err) == (
        "6 series, more than max_series 5; drop group_by dimension flowId "
        "(4 distinct values), filter it, or raise max_series"
    )


def test_a_refusal_without_group_by_names_no_dimension() -> None:
    """A refused result of a query without group_by says to filter or raise the limit."""
    with pytest.raises(SeriesLimitError, match=r"^6 series, more than max_series 1; filter"):
        digest(counted_job(1, group_by=()))


async def test_a_refusal_crosses_the_process_boundary(worker_only: Digester) -> None:
    """The worker's SeriesLimitError arrives here whole: count, limit, dimension, values."""
    with pytest.raises(SeriesLimitError) as refused:
        await worker_only.digest(counted_job(2))
    err = refused.value
    assert (err.series, err.limit, err.dimension, err.distinct) == (6, 2, "flowId", 4)
