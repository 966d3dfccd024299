"""How large a body can be digested in a thread of the daemon: `python -m tests.bench.threshold`.

For bodies of several sizes: the digest's time on one core, and the event loop's longest block
while a thread digests it (a task sleeping 1 ms at a time records how late it wakes). The loop
waits for the GIL at most one switch interval (5 ms) while the thread runs Python code, but for
the whole of a C call that keeps it: msgspec's decode of the body, the render's join. This is
how poller.digest.INLINE_LIMIT was chosen.
"""

from __future__ import annotations

import asyncio
import time

from poller.digest import Digester, DigestJob, digest
from tests.bench.common import dataset_file, median, table
from tests.bench.data import KIND, QUERY

SIZES = (1_000, 2_500, 5_000, 10_000, 20_000, 50_000)
REPS = 5
TICK = 0.001
IDLE = 0.2


async def loop_block(job: DigestJob | None) -> float:
    """The longest the loop was late while a thread digested `job` (None: while it waited
    IDLE seconds, the machine's own noise), in seconds."""
    digester = Digester(inline_limit=len(job.body) if job else 0)
    lags: list[float] = []
    done = False

    async def tick() -> None:
        while not done:
            begun = time.perf_counter()
            await asyncio.sleep(TICK)
            lags.append(time.perf_counter() - begun - TICK)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    lags.clear()
    try:
        if job is None:
            await asyncio.sleep(IDLE)
        else:
            await digester.digest(job)
    finally:
        done = True
        await ticker
        await digester.close()
    return max(lags, default=0.0)


async def main() -> None:
    idle = [await loop_block(None) for _ in range(REPS)]
    rows: list[list[object]] = [["none", "-", "-", median(idle) * 1000, max(idle) * 1000]]
    for series in SIZES:
        job = DigestJob(KIND, QUERY, dataset_file(series).read_bytes(), time.time())
        took = []
        for _ in range(REPS):
            begun = time.perf_counter()
            digest(job)
            took.append(time.perf_counter() - begun)
        blocks = [await loop_block(job) for _ in range(REPS)]
        rows.append(
            [
                series,
                f"{len(job.body) / 2**20:.2f}",
                median(took) * 1000,
                median(blocks) * 1000,
                max(blocks) * 1000,
            ]
        )
    print(f"Digest in a thread, medians of {REPS}")
    print(table(["samples", "body MiB", "digest ms", "loop block ms", "max"], rows))


if __name__ == "__main__":
    asyncio.run(main())
