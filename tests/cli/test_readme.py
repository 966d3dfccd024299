"""The README's promises: its "run it" command works as written."""

from __future__ import annotations

import os
import re
import shlex
import signal
from pathlib import Path

from poller.catalog import HIGH_CARDINALITY_DIMENSIONS
from poller.cli import DEMO_LISTEN
from poller.config import load_config
from poller.families import view_families
from poller.seriesplan import SPREADS
from tests.support.demo import DEMO_CLIENTS, FREE_PORTS, Demo, busy_flows
from tests.support.exposition import Exposition
from tests.support.process import Child, poller

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
    address it announces: entries, durations and active series for exactly each demo org's
    simulated flows, labelled with that org and named as its org names them; it stops cleanly on
    SIGTERM. (The one end-to-end test of the demo's flow series.)"""
    command = [*shlex.split(first_commands()[0]), "DEMO_ARGS=" + shlex.join(FREE_PORTS)]
    demo = Demo(command)
    try:
        demo.wait_started()
        status, text = demo.get("/metrics")
        scrape = Exposition(text)
        orgs = {name: demo.org(name) for name in DEMO_CLIENTS}
        busy = {name: busy_flows(demo, scrape, name) for name in DEMO_CLIENTS}
    finally:
        code = demo.stop()
    # make itself dies of the SIGTERM sent to the session; the daemon stops cleanly.
    assert code in (0, -signal.SIGTERM), demo.output
    assert '"event": "stopped"' in demo.output
    assert status == 200
    assert scrape.get("genesyscloud_poller_build_info") == 1.0  # our daemon, nobody else
    for name, org in orgs.items():
        names = {flow["id"]: flow["name"] for flow in org["flows"]}
        media = {flow["id"]: flow["mediaType"] for flow in org["flows"]}
        entries = scrape.series("genesyscloud_flow_entries", org=name, query="flows_1h")
        shown = {labels["flow_id"]: labels["flow_name"] for labels, _ in entries}
        # Genesys never zero-fills: a flow without an execution in the hour has no series.
        assert busy[name] <= set(shown) <= set(names)
        assert shown == {flow: names[flow] for flow in shown}
        assert all(value == int(value) for _, value in entries), "entries are whole counts"
        durations = scrape.by(
            "flow_id", "genesyscloud_flow_duration_sum_seconds", org=name, query="flows_1h"
        )
        # A duration counts an execution that ended in the hour, an entry one that entered in
        # it: one still in the flow has an entry and no duration, one that entered before the
        # hour and ended in it a duration and no entry. Both are the org's flows.
        assert durations
        assert set(durations) <= set(names)
        active = scrape.series("genesyscloud_flow_active", org=name, query="flows_active")
        assert active
        assert {(lab["flow_id"], lab["media_type"]) for lab, _ in active} <= set(media.items())
        assert sum(value for _, value in entries) > 0, "the demo's last hour has traffic"
    assert {flow["id"] for flow in orgs["acme"]["flows"]}.isdisjoint(
        flow["id"] for flow in orgs["globex"]["flows"]
    )
    assert f"metrics:   {demo.url}/metrics" in demo.output


def section(title: str) -> str:
    """The README's text under `## title`, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def shell_blocks(text: str) -> list[list[str]]:
    """The commands of each ```sh block of `text`, comments stripped."""
    return [
        [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
        for block in re.findall(r"```sh\n(.*?)```", text, re.S)
    ]


def test_quick_start_copies_the_example_and_checks_it(tmp_path: Path) -> None:
    """The Quick start's first block makes the virtualenv (a Makefile target), copies the
    example and checks the copy; run as written (the copy, then check-config), it exits 0."""
    make_venv, copy, check = shell_blocks(section("Quick start with your Genesys Cloud org"))[0]
    assert make_venv == "make venv"
    assert re.search(r"^venv: \$\(VENV\)/\.runtime$", (ROOT / "Makefile").read_text(), re.M)
    source, target = shlex.split(copy)[1:]
    assert shlex.split(copy)[0] == "cp"
    (tmp_path / target).write_bytes((ROOT / source).read_bytes())
    program, *args = shlex.split(check)
    assert program == ".venv/bin/genesyscloud-poller"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "POLLER_"))}
    child = Child(poller(*args), env=env, cwd=tmp_path)
    assert child.exit_code(60) == 0, child.output + child.errors
    assert f"{target}: valid" in child.output


def test_quick_start_tests_the_login_before_polling() -> None:
    """The credentials are first tried by check-config --login, before once and run."""
    blocks = shell_blocks(section("Quick start with your Genesys Cloud org"))
    commands = [shlex.split(line)[1] for block in blocks for line in block if ".venv/bin" in line]
    assert commands == ["check-config", "check-config", "once", "run"]
    assert "check-config --login" in blocks[1][-1]


def test_quick_start_warns_about_the_examples_open_listen_address() -> None:
    """The address the Quick start warns about is the one the example config listens on."""
    config = load_config(ROOT / "config" / "poller.yaml", env={})
    listen = f"{config.server.host}:{config.server.port}"
    quick_start = " ".join(section("Quick start with your Genesys Cloud org").split())
    assert f"The example listens on `{listen}` (`server.listen`)" in quick_start
    assert "without TLS or authentication" in quick_start


def test_readme_names_the_series_of_the_examples_view() -> None:
    """The view the README shows becoming series is the example config's, named as the
    families the poller makes of it."""
    config = load_config(ROOT / "config" / "poller.yaml", env={})
    view = next(v for q in config.queries for v in q.views if v.name == "tFlowUnder30s")
    names = [family.name for _, family, _ in view_families(view.name)]
    text = " ".join(section("Metric reference").split())
    assert f"`{names[0]}`" in text  # ..._sum_seconds, written out
    assert f"`{names[-1]}`" in text  # ..._measurements, written out
    stem = names[0].removesuffix("_sum_seconds")
    assert all(name.startswith(stem) for name in names)
    for suffix in ("_max_seconds", "_min_seconds"):
        assert f"`...{suffix}`" in text


def test_readme_warns_that_make_test_as_root_installs_packages_before_the_command() -> None:
    """Before its first command block, the README says that `make test` run as root installs
    Debian packages, which the Makefile's test target indeed does (through `tools`)."""
    before = " ".join(README[: README.index("```sh")].split())
    assert "Before you run `make test` as root, know that it installs Debian packages" in before
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: tools ", makefile, re.M)
    assert 'if [ "$$(id -u)" = 0 ] && command -v apt-get' in makefile


def test_cardinality_lists_exactly_the_refused_per_conversation_dimensions() -> None:
    """The README's list of dimensions refused in group_by is the checker's own list."""
    text = " ".join(section("Cardinality").split())
    refused = text.split("stay refused in `group_by`, whatever the limit: ", 1)[1].split(".")[0]
    assert set(re.findall(r"`(\w+)`", refused)) == HIGH_CARDINALITY_DIMENSIONS


def test_cardinality_table_is_the_series_plans_table() -> None:
    """The README's typical values per flow are check-config's: the same dimensions, each with
    its most values per flow (the last number of its cell), or none for an unbounded one."""
    text = section("Cardinality")
    rows = re.findall(r"^\| (`\w+`(?:, `\w+`)*) \| ([^|]+) \|$", text, re.M)
    shown = {
        dimension: [int(n) for n in re.findall(r"\d+", cell)]
        for dimensions, cell in rows
        for dimension in re.findall(r"`(\w+)`", dimensions)
    }
    assert set(shown) == set(SPREADS)
    assert {d: n[-1] if n else None for d, n in shown.items()} == {
        d: None if spread.per else spread.high for d, spread in SPREADS.items()
    }
