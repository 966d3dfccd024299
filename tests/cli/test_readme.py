"""The README's promises: its "run it" command works as written."""

from __future__ import annotations

import re
import shlex
import signal
from pathlib import Path

from poller.cli import DEMO_LISTEN
from tests.support.demo import FREE_PORTS, Demo
from tests.support.exposition import Exposition

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def first_commands() -> list[str]:
    """The commands of the README's first shell block, comments stripped."""
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block, "README has no ```sh block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_run_it_and_test_commands() -> None:
    """The README's first block holds exactly two commands: run the demo, run the tests (every
    tier)."""
    assert first_commands() == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert "$(VENV)/bin/genesyscloud-poller demo $(DEMO_ARGS)" in makefile
    assert re.search(r"^test: .*all-tiers", makefile, re.M)
    assert re.search(r'^all-tiers: .*\n\t\$\(PY\) -m pytest -m ""$', makefile, re.M)


def test_readme_names_the_demo_default_address() -> None:
    """The URL the README tells users to open is the demo's default listen address."""
    assert f"http://{DEMO_LISTEN}/metrics" in README


def test_readme_run_it_command_serves_metrics() -> None:
    """Running the README's first command (on free ports) serves our daemon's flow metrics on the
    address it announces, and stops cleanly on SIGTERM."""
    command = [*shlex.split(first_commands()[0]), "DEMO_ARGS=" + shlex.join(FREE_PORTS)]
    demo = Demo(command)
    try:
        demo.wait_started()
        status, text = demo.get("/metrics")
        assert status == 200
        scrape = Exposition(text)
        assert scrape.get("genesyscloud_poller_build_info") == 1.0  # our daemon, nobody else
        for org in ("acme", "globex"):
            flows = {flow["id"] for flow in demo.org(org)["flows"]}
            entries = scrape.by("flow_id", "genesyscloud_flow_entries", org=org, query="flows_1h")
            assert set(entries) == flows
    finally:
        code = demo.stop()
    # make itself dies of the SIGTERM sent to the session; the daemon stops cleanly.
    assert code in (0, -signal.SIGTERM), demo.output
    assert '"event": "stopped"' in demo.output
