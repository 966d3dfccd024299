"""deploy/docker-compose.yml: docker-compose accepts it, every file it mounts exists, and the
demo poller, Prometheus, Alertmanager and Grafana are wired to each other."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deploy_support import (
    ALERTMANAGER_CONFIG,
    COMPOSE_FILE,
    DEPLOY,
    PROMETHEUS_CONFIG,
    load_yaml,
    run,
)
from tests.support.tools import require_tool

GRAFANA = DEPLOY / "grafana" / "provisioning"


def _services() -> dict[str, Any]:
    services: dict[str, Any] = load_yaml(COMPOSE_FILE)["services"]
    return services


def _bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> host path (relative to deploy/) of a service's bind mounts."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            out[target] = source
    return out


def _commented_poller() -> dict[str, Any]:
    """The commented-out poller service for a real org, uncommented."""
    lines = COMPOSE_FILE.read_text().splitlines()
    start = lines.index("  # poller:")
    block = []
    for line in lines[start:]:
        if not line.startswith("  #"):
            break
        block.append(line.replace("  # ", "  ", 1).replace("  #", "", 1))
    service: dict[str, Any] = yaml.safe_load("\n".join(block))["poller"]
    return service


def test_docker_compose_config_accepts_the_file() -> None:
    """`docker-compose -f deploy/docker-compose.yml config` succeeds."""
    result = run([require_tool("docker-compose"), "-f", str(COMPOSE_FILE), "config", "-q"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_stack_has_poller_prometheus_alertmanager_and_grafana() -> None:
    """The stack runs the poller, Prometheus, Alertmanager and Grafana."""
    assert set(_services()) == {"poller", "prometheus", "alertmanager", "grafana"}


def test_every_mounted_file_and_the_build_context_exist() -> None:
    """Bind-mount sources, the build context and its Dockerfile exist."""
    for name, service in _services().items():
        for source in _bind_mounts(service).values():
            assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
    build = _services()["poller"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert (context / build["dockerfile"]).is_file()


def test_poller_runs_the_demo_on_all_interfaces_read_only() -> None:
    """The poller service runs `demo` listening on 0.0.0.0:9864, simulator on its own port."""
    poller = _services()["poller"]
    assert poller["entrypoint"] == ["genesyscloud-poller", "demo"]
    args = " ".join(poller["command"])
    assert "--web.listen-address=0.0.0.0:9864" in args
    sim = re.search(r"--simulator\.listen-address=[\d.]+:(\d+)", args)
    assert sim is not None
    assert sim.group(1) != "9864"
    assert "9864:9864" in poller["ports"]
    assert poller["read_only"] is True


def test_commented_real_credentials_variant_is_usable() -> None:
    """The commented poller service parses, reads an env file and mounts an existing config."""
    poller = _commented_poller()
    assert poller["env_file"] == "genesyscloud-poller.env"
    example = DEPLOY / "genesyscloud-poller.env.example"
    keys = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert {"GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET"} <= keys
    mounts = _bind_mounts(poller)
    assert (DEPLOY / mounts["/etc/genesyscloud-poller/poller.yaml"]).is_file()
    assert "entrypoint" not in poller


def test_prometheus_gets_the_shipped_config_and_rules() -> None:
    """Prometheus mounts prometheus.yml and the rules directory where the config points."""
    prometheus = _services()["prometheus"]
    mounts = _bind_mounts(prometheus)
    config_in_container = next(
        a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file=")
    )
    assert Path(mounts[config_in_container]) == Path("./prometheus/prometheus.yml")
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    config_dir = Path(config_in_container).parent
    for rule_file in config["rule_files"]:
        in_container = config_dir / rule_file
        host = next(
            DEPLOY / src / in_container.relative_to(dst)
            for dst, src in mounts.items()
            if in_container.is_relative_to(dst)
        )
        assert host.is_file(), rule_file
    (job,) = config["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["poller:9864"]


def test_prometheus_sends_alerts_to_the_alertmanager_service() -> None:
    """prometheus.yml's alerting target is the alertmanager service on its port 9093."""
    (alertmanagers,) = load_yaml(PROMETHEUS_CONFIG)["alerting"]["alertmanagers"]
    (static,) = alertmanagers["static_configs"]
    assert static["targets"] == ["alertmanager:9093"]
    assert "9093:9093" in _services()["alertmanager"]["ports"]
    assert "alertmanager" in _services()["prometheus"]["depends_on"]


def test_alertmanager_gets_the_shipped_config_without_clustering() -> None:
    """Alertmanager mounts deploy/alertmanager/alertmanager.yml where --config.file points, and
    runs alone (an empty cluster address turns gossip off)."""
    alertmanager = _services()["alertmanager"]
    assert alertmanager["image"].startswith("prom/alertmanager:")
    flags = dict(a.split("=", 1) for a in alertmanager["command"])
    mounts = _bind_mounts(alertmanager)
    assert (DEPLOY / mounts[flags["--config.file"]]).resolve() == ALERTMANAGER_CONFIG
    assert flags["--cluster.listen-address"] == ""


def test_grafana_provisioning_matches_the_mounts() -> None:
    """Grafana's datasource points at the prometheus service; the dashboard path is mounted."""
    grafana = _services()["grafana"]
    mounts = _bind_mounts(grafana)
    (datasource,) = load_yaml(GRAFANA / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["uid"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = load_yaml(GRAFANA / "dashboards" / "genesyscloud-poller.yml")["providers"]
    dashboards_path = provider["options"]["path"]
    assert Path(mounts[dashboards_path]) == Path("./grafana/dashboards")
    assert Path(mounts["/etc/grafana/provisioning/datasources"]) == Path(
        "./grafana/provisioning/datasources"
    )
    assert Path(mounts["/etc/grafana/provisioning/dashboards"]) == Path(
        "./grafana/provisioning/dashboards"
    )
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DEPLOY / "grafana" / "dashboards" / Path(home).name).is_file()
    assert Path(home).parent == Path(dashboards_path)
