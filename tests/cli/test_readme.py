"""The README's promises: its "run it" command works as written."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def first_commands() -> list[str]:
    """The commands of the README's first shell block, comments stripped."""
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block, "README has no ```sh block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - local test URL
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def test_readme_opens_with_run_it_and_test_commands() -> None:
    """The README's first block holds exactly two commands: run the demo, run the tests."""
    assert first_commands() == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert "$(VENV)/bin/genesyscloud-poller demo" in makefile
    assert re.search(r"^test: .*unit", makefile, re.M)


def test_readme_run_it_command_serves_metrics() -> None:
    """Running the README's first command as written serves flow metrics on the port the README
    names, and stops cleanly on SIGTERM."""
    command = first_commands()[0]
    assert "127.0.0.1:9864/metrics" in README
    proc = subprocess.Popen(
        shlex.split(command), cwd=ROOT, start_new_session=True, env=dict(os.environ),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        status, text = 0, ""
        while time.monotonic() < deadline:
            try:
                status, _ = get("http://127.0.0.1:9864/readyz")
            except OSError:
                status = 0
            if status == 200:
                status, text = get("http://127.0.0.1:9864/metrics")
                break
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        assert status == 200, "the demo never became ready"
        assert 'genesyscloud_flow_entries{query="flows_1h"' in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
