"""A listening address another process holds: one line naming it and the flag that moves it,
exit 1, no traceback, for every command that listens."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import CONFIG, base_env, run_cli


@pytest.fixture
def busy() -> Iterator[str]:
    """HOST:PORT of a socket this test listens on, so nobody else can bind it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def one_line(err: str) -> str:
    """stderr's only line (the test fails on anything more, a traceback above all)."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


async def test_run_on_a_busy_flag_address_names_the_flag(busy: str, tmp_path: Path) -> None:
    """run --web.listen-address on a taken address exits 1 with one line naming it and the flag."""
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG)
    env = base_env(GENESYS_CLIENT_ID="id", GENESYS_CLIENT_SECRET="secret")
    rc, _, err = await run_cli("run", "--config", str(path), "--web.listen-address", busy, env=env)
    assert rc == 1
    assert one_line(err) == (
        f"genesyscloud-poller: cannot listen on {busy}: the address is already in use; "
        "choose a free address with --web.listen-address HOST:PORT"
    )


async def test_run_on_a_busy_configured_address_names_the_setting(
    busy: str, tmp_path: Path
) -> None:
    """run on a taken server.listen names the setting in its file, and the flag."""
    path = tmp_path / "poller.yaml"
    path.write_text(CONFIG.replace('"127.0.0.1:0"', f'"{busy}"'))
    env = base_env(GENESYS_CLIENT_ID="id", GENESYS_CLIENT_SECRET="secret")
    rc, _, err = await run_cli("run", "--config", str(path), env=env)
    assert rc == 1
    assert one_line(err) == (
        f"genesyscloud-poller: cannot listen on {busy}: the address is already in use; "
        f"change server.listen in {path}, or choose a free address with --web.listen-address "
        "HOST:PORT"
    )


@pytest.mark.parametrize("flag", ["--web.listen-address", "--simulator.listen-address"])
async def test_demo_on_a_busy_address_names_the_flag_and_the_make_variable(
    busy: str, flag: str
) -> None:
    """demo on a taken address (its own or the simulator's) exits 1 with one line naming the
    address, the flag, and how to pass it to `make demo`."""
    other = next(f for f in ("--web.listen-address", "--simulator.listen-address") if f != flag)
    rc, _, err = await run_cli("demo", flag, busy, other, "127.0.0.1:0", env=base_env())
    assert rc == 1
    assert one_line(err) == (
        f"genesyscloud-poller: cannot listen on {busy}: the address is already in use; "
        f"choose a free address with {flag} HOST:PORT "
        f"(with make: make demo DEMO_ARGS='{flag} HOST:PORT')"
    )


async def test_simulate_on_a_busy_address_names_the_flag(busy: str) -> None:
    """simulate on a taken address exits 1 with one line naming it and --listen-address."""
    rc, _, err = await run_cli("simulate", "--listen-address", busy, env=base_env())
    assert rc == 1
    assert one_line(err) == (
        f"genesyscloud-poller: cannot listen on {busy}: the address is already in use; "
        "choose a free address with --listen-address HOST:PORT"
    )
