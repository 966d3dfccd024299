"""The push publisher's CPU: a simulator of N flows in a child process pushes both topics of
every flow to one channel; this measures the child's CPU (all threads) while it does.

    .venv/bin/python -m tests.simulator.bench_push 500 [--night] [--seconds 40]

By default the simulator's clock reads 14:07:30 on a Thursday (the daily peak, mid-interval);
`--night` keeps the real clock. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import aiohttp

PEAK = datetime(2026, 5, 14, 14, 7, 30, tzinfo=UTC).timestamp()
WARM_UP = 10.0  # seconds: the first ticks fill the engine's block caches


async def serve(flows: int, peak: bool) -> None:
    from poller.simulator import Simulator, SimulatorSettings

    offset = PEAK - time.time() if peak else 0.0
    sim = Simulator(SimulatorSettings(flows=flows), clock=lambda: time.time() + offset)
    await sim.start()
    print("BASE", sim.base_url, flush=True)
    await asyncio.Event().wait()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(flows: int, peak: bool, seconds: float) -> dict[str, object]:
    child = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, "-m", "tests.simulator.bench_push", "--serve", str(flows)]
        + (["--night"] if not peak else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        base = next(line for line in child.stdout if line.startswith("BASE ")).split()[1]
        async with aiohttp.ClientSession() as http:
            basic = base64.b64encode(b"demo-client:demo-secret").decode()
            login = await http.post(
                base + "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
            auth = {"Authorization": "Bearer " + (await login.json())["access_token"]}
            org = await (await http.get(base + "/simulator/org")).json()
            channel = await (
                await http.post(base + "/api/v2/notifications/channels", headers=auth)
            ).json()
            topics = [
                {"id": f"v2.analytics.{kind}.{flow['id']}.aggregates"}
                for flow in org["flows"]
                for kind in ("flow", "flowoutcome")
            ]
            put = await http.put(
                f"{base}/api/v2/notifications/channels/{channel['id']}/subscriptions",
                json=topics,
                headers=auth,
            )
            assert put.status == 200, await put.text()
            frames = 0
            async with http.ws_connect(channel["connectUri"]) as ws:

                async def read() -> None:
                    nonlocal frames
                    async for _ in ws:
                        frames += 1

                reader = asyncio.create_task(read())
                start_cpu = cpu_seconds(child.pid)
                await asyncio.sleep(WARM_UP)
                warm = cpu_seconds(child.pid) - start_cpu
                frames_before, began, cpu_before = frames, time.monotonic(), cpu_seconds(child.pid)
                await asyncio.sleep(seconds)
                elapsed = time.monotonic() - began
                used = cpu_seconds(child.pid) - cpu_before
                reader.cancel()
        return {
            "flows": flows,
            "topics": len(topics),
            "clock": "peak" if peak else "real",
            "warm_up_cpu_seconds": round(warm, 2),
            "cpu_share": round(used / elapsed, 3),
            "frames_per_second": round((frames - frames_before) / elapsed, 1),
        }
    finally:
        child.terminate()
        child.wait()


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("flows", type=int)
    args.add_argument("--night", action="store_true", help="the real clock, not the peak")
    args.add_argument("--seconds", type=float, default=40.0)
    args.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parsed = args.parse_args()
    if parsed.serve:
        asyncio.run(serve(parsed.flows, not parsed.night))
        return
    print(json.dumps(asyncio.run(measure(parsed.flows, not parsed.night, parsed.seconds))))


if __name__ == "__main__":
    main()
