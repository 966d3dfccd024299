"""The real image: built from the Dockerfile with podman on a locally made Debian base image,
run read-only as its non-root user, serving the demo and stopping promptly on SIGTERM.

Selected by the `container` marker (`make test` runs every tier). No registry is reachable, so
the base image is a bookworm minbase with python3 made by mmdebstrap and cached by name."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_support import (
    KUBERNETES,
    ROOT,
    load_yaml_all,
    run,
)
from tests.support.demo import DEMO_CLIENTS
from tests.support.exposition import Exposition
from tests.support.http import http_get, wait_for_status
from tests.support.tools import require_tool
from tests.support.wait import wait_for

pytestmark = pytest.mark.container

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
# The host's CA bundle goes into the base image so that pip in the build stage trusts whatever
# the host trusts (a TLS-inspecting proxy's CA included). Not part of the product's Dockerfile.
BASE_RECIPE = [
    "--variant=minbase",
    f"--include={PACKAGES}",
    f'--customize-hook=cp {HOST_CA_BUNDLE} "$1{HOST_CA_BUNDLE}"',
    '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
    "bookworm",
]
IMAGE = "localhost/genesyscloud-poller:container-test"
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
"""


def _base_image_name() -> str:
    # The recipe is in the tag, so changing it builds a new base instead of reusing a stale one.
    digest = hashlib.sha256(" ".join(BASE_RECIPE).encode()).hexdigest()[:10]
    return f"localhost/genesyscloud-poller-test-base:bookworm-{digest}"


@dataclass
class Podman:
    binary: str
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run([self.binary, *args], timeout=timeout, env=self.env)

    def ok(self, *args: str, timeout: float = 120) -> str:
        result = self(*args, timeout=timeout)
        assert result.returncode == 0, f"podman {' '.join(args)}:\n{result.stderr[-3000:]}"
        return result.stdout

    def timed(self, name: str, *args: str, timeout: float = 600) -> str:
        begun = time.monotonic()
        out = self.ok(*args, timeout=timeout)
        self.timings[name] = time.monotonic() - begun
        return out


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    """podman with the containers.conf this machine needs (runc, bounded ulimits)."""
    binary = require_tool("podman")
    require_tool("runc")
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return Podman(binary, {**os.environ, "CONTAINERS_CONF": str(conf)})


@pytest.fixture(scope="module")
def base_image(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Debian bookworm minbase with python3 and venv, made once and cached by name."""
    name = _base_image_name()
    if podman("image", "exists", name).returncode == 0:
        podman.timings["base image (cached)"] = 0.0
        return name
    mmdebstrap = require_tool("mmdebstrap")
    rootfs = tmp_path_factory.mktemp("base") / "rootfs.tar"
    begun = time.monotonic()
    made = run([mmdebstrap, *BASE_RECIPE, str(rootfs)], timeout=900)
    assert made.returncode == 0, made.stderr[-3000:]
    podman.ok(
        "import", "--change", f"ENV PIP_CERT={HOST_CA_BUNDLE}",
        "--change", 'CMD ["/bin/bash"]', str(rootfs), name, timeout=300,
    )  # fmt: skip
    podman.timings["base image (mmdebstrap + import)"] = time.monotonic() - begun
    return name


@pytest.fixture(scope="module")
def image(podman: Podman, base_image: str) -> Iterator[str]:
    """The product image, built from the real Dockerfile on the local base image."""
    podman.timed(
        "image build",
        "build", "--format", "docker", "--build-arg", f"BASE_IMAGE={base_image}",
        "--build-arg", "VERSION=0.0.0-test", "--tag", IMAGE, str(ROOT),
    )  # fmt: skip
    yield IMAGE
    print("\ncontainer test timings: " + ", ".join(
        f"{k} {v:.1f}s" for k, v in podman.timings.items()))  # fmt: skip


QUERY_UP = "genesyscloud_poller_query_up"


@dataclass
class Running:
    name: str
    url: str


@pytest.fixture(scope="module")
def demo(podman: Podman, image: str) -> Iterator[Running]:
    """The image running `demo` read-only, as its own user, published on a loopback port."""
    name = f"genesyscloud-poller-test-{os.getpid()}"
    begun = time.monotonic()
    podman.ok(
        "run", "--detach", "--read-only", "--name", name,
        # Port 0's counterpart: podman binds a free host port and `podman port` names it.
        "--publish", "127.0.0.1::9864",
        # No systemd here to run the healthcheck timer; the test runs the check itself.
        "--health-interval", "disable",
        "--entrypoint", "genesyscloud-poller", image,
        "demo", "--web.listen-address", "0.0.0.0:9864",
        "--simulator.listen-address", "127.0.0.1:9865",
    )  # fmt: skip
    try:
        url = "http://" + podman.ok("port", name, "9864/tcp").strip()
        wait_for_status(f"{url}/readyz", 200, timeout=60, alive=lambda: _exited(podman, name))
        podman.timings["start to ready"] = time.monotonic() - begun
        yield Running(name, url)
    finally:
        podman("rm", "--force", "--time", "0", name)


def _exited(podman: Podman, name: str) -> str | None:
    state = _inspect(podman, name)["State"]
    if state["Running"]:
        return None
    return f"container exited with {state['ExitCode']}: {podman('logs', name).stderr[-2000:]}"


def _inspect(podman: Podman, name: str) -> dict[str, Any]:
    (info,) = json.loads(podman.ok("inspect", name))
    result: dict[str, Any] = info
    return result


def test_image_metadata(podman: Podman, image: str) -> None:
    """The image runs as 10001, exposes 9864, has a healthcheck and the OCI labels."""
    info = _inspect(podman, image)
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert "9864/tcp" in config["ExposedPorts"]
    assert config["Entrypoint"] == ["/opt/genesyscloud-poller/bin/genesyscloud-poller", "run"]
    assert "POLLER_CONFIG=/etc/genesyscloud-poller/poller.yaml" in config["Env"]
    assert "/healthz" in " ".join(info["Healthcheck"]["Test"])
    labels = config["Labels"]
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.version"] == "0.0.0-test"
    assert labels["org.opencontainers.image.source"].startswith("https://")


def test_demo_serves_metrics_read_only_as_non_root(podman: Podman, demo: Running) -> None:
    """In a read-only container the demo serves flow metrics of both its orgs, running as uid
    10001."""

    def polled() -> Exposition | None:
        status, body = http_get(f"{demo.url}/metrics")
        scrape = Exposition(body) if status == 200 else None
        up = (
            [scrape.get(QUERY_UP, org=org, query="flows_1h") for org in DEMO_CLIENTS]
            if scrape
            else []
        )
        return scrape if up and all(value == 1 for value in up) else None

    scrape = wait_for(polled, timeout=60, what="both demo orgs' flows_1h polled in the container")
    for org in DEMO_CLIENTS:
        assert scrape.series("genesyscloud_flow_entries", org=org, query="flows_1h")
    assert _inspect(podman, demo.name)["HostConfig"]["ReadonlyRootfs"] is True
    assert podman.ok("exec", demo.name, "id", "-u").strip() == "10001"


def test_healthcheck_passes(podman: Podman, demo: Running) -> None:
    """The image's HEALTHCHECK command reports the running demo healthy."""
    result = podman("healthcheck", "run", demo.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sigterm_stops_the_container_within_5_seconds(podman: Podman, demo: Running) -> None:
    """`podman stop -t 5` (SIGTERM) ends the poller cleanly, exit 0, well before the SIGKILL."""
    begun = time.monotonic()
    podman.ok("stop", "--time", "5", demo.name, timeout=30)
    elapsed = time.monotonic() - begun
    podman.timings["SIGTERM to stopped"] = elapsed
    assert elapsed < 5
    assert _inspect(podman, demo.name)["State"]["ExitCode"] == 0


def test_default_entrypoint_reads_the_mounted_config(
    podman: Podman, image: str, tmp_path: Path
) -> None:
    """`run` reads POLLER_CONFIG's path; check-config there accepts the Kubernetes config."""
    missing = podman("run", "--rm", "--read-only", image, timeout=60)
    assert missing.returncode != 0
    assert "/etc/genesyscloud-poller/poller.yaml" in missing.stderr
    (config_map,) = load_yaml_all(KUBERNETES / "configmap.yaml")
    config = tmp_path / "poller.yaml"
    config.write_text(config_map["data"]["poller.yaml"])
    config.chmod(0o644)
    checked = podman(
        "run", "--rm", "--read-only",
        "--volume", f"{config}:/etc/genesyscloud-poller/poller.yaml:ro",
        "--entrypoint", "genesyscloud-poller", image, "check-config", timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "flows_today" in checked.stdout
