"""The image's install step, outside a container: build the wheels with the Dockerfile's command,
install them offline into a fresh venv, and run the installed console script."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.deploy_support import DOCKERFILE, ROOT, run

pytestmark = pytest.mark.e2e

# The Dockerfile's build step is `<python> -m pip wheel --wheel-dir /wheels .`, run in the source
# root; the runtime stage installs with --no-index from that directory.
BUILD_ARGS = ["-m", "pip", "wheel", "--wheel-dir"]
INSTALL_ARGS = ["-m", "pip", "install", "--no-cache-dir", "--no-index"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed exactly as the image installs it; its bin dir."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheels = tmp / "wheels"
    built = run([sys.executable, *BUILD_ARGS, str(wheels), "."], cwd=ROOT, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    venv = tmp / "venv"
    # The venv's own pip would do the same as ours pointed at it, and seeding it costs 5 s.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    bin_dir = venv / "bin"
    pip_args = [*INSTALL_ARGS[:2], "--python", str(bin_dir / "python"), *INSTALL_ARGS[2:]]
    install = run(
        [sys.executable, *pip_args, "--find-links", str(wheels), "genesyscloud-poller"],
        timeout=300,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    return bin_dir


def test_dockerfile_builds_and_installs_with_the_same_commands() -> None:
    """The commands this test runs are the ones in the Dockerfile."""
    text = re.sub(r"\\\n\s*", "", DOCKERFILE.read_text())
    assert "python -m pip wheel --wheel-dir /wheels ." in text
    assert "python -m pip install --no-cache-dir --no-index" in text
    assert "--find-links /wheels genesyscloud-poller" in text


def test_wheel_carries_the_demo_config(installed: Path) -> None:
    """The built wheel contains poller/data/demo.yaml, identical to config/demo.yaml."""
    (wheel,) = (installed.parent.parent / "wheels").glob("genesyscloud_poller-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        packaged = zf.read("poller/data/demo.yaml")
    assert packaged == (ROOT / "config" / "demo.yaml").read_bytes()


def test_installed_console_script_prints_help(installed: Path) -> None:
    """`genesyscloud-poller --help` from the fresh venv exits 0 and lists the subcommands."""
    result = run([str(installed / "genesyscloud-poller"), "--help"], cwd=installed)
    assert result.returncode == 0, result.stderr
    for command in ("run", "demo", "check-config", "once", "simulate"):
        assert command in result.stdout


def test_installed_package_finds_its_own_demo_config(installed: Path) -> None:
    """Installed, the demo uses the wheel's copy of demo.yaml, not a source checkout's."""
    result = run(
        [str(installed / "python"), "-c",
         "from poller.cli import demo_config_path; print(demo_config_path())"],
        cwd=installed,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.is_relative_to(installed.parent)
    assert path.parts[-3:] == ("poller", "data", "demo.yaml")


def test_installed_check_config_accepts_the_demo_config(installed: Path, tmp_path: Path) -> None:
    """`genesyscloud-poller check-config` from the fresh venv accepts a copy of demo.yaml."""
    config = tmp_path / "demo.yaml"
    config.write_bytes((ROOT / "config" / "demo.yaml").read_bytes())
    result = run(
        [str(installed / "genesyscloud-poller"), "check-config", "--config", str(config)],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "flows_1h" in result.stdout
