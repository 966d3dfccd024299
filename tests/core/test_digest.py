"""The one boundary for heavy work: digests run in a worker process that hands back ready bytes,
fails a poll cleanly when it dies, and never outlives the daemon."""

from __future__ import annotations

import gzip
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from poller.digest import Digester, digest
from poller.errors import NormalizeError, PollerError
from tests.support.demo import Demo, demo_command
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


@pytest.fixture
async def digester() -> AsyncIterator[Digester]:
    worker = Digester()
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
    """Digest workers of this process: children of its forkserver, so grandchildren."""
    here = os.getpid()
    direct = {int(pid) for pid in Path(f"/proc/{here}/task/{here}/children").read_text().split()}
    return descendants(here) - direct


async def test_worker_process_hands_back_what_an_inline_digest_makes(digester: Digester) -> None:
    """The families a worker process sends back are exactly those `digest` makes in this one,
    and the work ran in another process."""
    families = await digester.digest("aggregate", "flows", RESPONSE, 0.0)
    assert families == digest("aggregate", "flows", RESPONSE, 0.0)
    [entries] = families.values()
    assert (
        gzip.decompress(entries.packed)
        == b'genesyscloud_flow_entries{query="flows",flow_id="f1",flow_name="Main \\"IVR\\""} 3\n'
    )
    assert workers(), "no worker process was started"


async def test_shape_errors_cross_the_process_boundary(digester: Digester) -> None:
    """A response of the wrong shape raises NormalizeError here, with the worker's message."""
    with pytest.raises(NormalizeError, match=r"^results: Expected `array \| null`, got `str`$"):
        await digester.digest("aggregate", "flows", b'{"results": "nope"}', 0.0)


async def test_a_killed_worker_fails_one_digest_and_is_replaced(digester: Digester) -> None:
    """When the worker dies, the digest in flight fails with a clear PollerError and the next
    one runs in a new worker."""
    await digester.digest("aggregate", "flows", RESPONSE, 0.0)
    before = workers()
    assert before
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(PollerError, match="worker process that decodes responses died"):
        await digester.digest("aggregate", "flows", RESPONSE, 0.0)
    families = await digester.digest("aggregate", "flows", RESPONSE, 0.0)
    assert families == digest("aggregate", "flows", RESPONSE, 0.0)
    replaced = workers()
    assert replaced
    assert not before & replaced


def test_worker_does_not_outlive_a_killed_daemon() -> None:
    """SIGKILL of a polling daemon leaves no worker or forkserver behind holding its output."""
    demo = Demo(demo_command()).wait_started()
    helpers = descendants(demo.proc.pid)
    assert helpers, "the demo runs no worker process"
    os.kill(demo.proc.pid, signal.SIGKILL)
    demo.proc.wait(10)

    def gone() -> bool | None:
        alive = {pid for pid in helpers if Path(f"/proc/{pid}").exists()}
        return True if not alive else None

    wait_for(gone, timeout=10, what="the worker processes to end")
    assert demo.output_closed(10), "something still holds the daemon's stdout"
