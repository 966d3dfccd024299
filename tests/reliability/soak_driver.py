"""The soak's child process: `genesyscloud-poller run --config F`, wired exactly as the CLI wires
it (same Daemon, same run_until_signalled, JSON logs), plus one last log line after the stop
saying what outlived it: asyncio tasks and aiohttp sessions not closed.

Run as a script (`python tests/reliability/soak_driver.py --config F`), not collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys

import aiohttp

from poller.config import load_config, load_credentials
from poller.daemon import Daemon
from poller.logsetup import configure_logging
from poller.serving import run_until_signalled


async def soak(path: str) -> int:
    env = os.environ
    config = load_config(path, env)
    credentials = load_credentials(env)
    before = set(asyncio.all_tasks())
    daemon = Daemon(config, credentials, loader=lambda: load_config(path, env))
    code = await run_until_signalled(daemon, config.server.host, config.server.port)
    await asyncio.sleep(0)  # let the last done-callbacks run
    leftover = [repr(task) for task in asyncio.all_tasks() - before]
    gc.collect()
    sessions = [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession)]
    report = {
        "event": "soak_report",
        "leftover_tasks": leftover,
        "open_sessions": sum(not s.closed for s in sessions),
    }
    print(json.dumps(report), flush=True)
    return code


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    configure_logging("info", "json")
    return asyncio.run(soak(args.config))


if __name__ == "__main__":
    sys.exit(main())
