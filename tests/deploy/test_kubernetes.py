"""deploy/kubernetes and its sharded overlay deploy/kubernetes-sharded: core objects validate
strictly, the Prometheus Operator objects are well formed and carry the shipped rules and
Alertmanager routes, and the pieces agree with each other and with the image."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from tests.deploy.deploy_support import (
    ALERTMANAGER_CONFIG,
    DOCKERFILE,
    KUBERNETES,
    KUBERNETES_SHARDED,
    ROOT,
    load_yaml,
    load_yaml_all,
    rule_groups,
    run,
)
from tests.support.tools import require_tool

CORE_API_VERSIONS = {"v1", "apps/v1", "policy/v1"}


def _objects() -> dict[str, tuple[Path, dict[str, Any]]]:
    """kind -> (file, object) for every manifest except the kustomization."""
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in load_yaml_all(path):
            assert doc["kind"] not in out, f"two {doc['kind']} objects"
            out[doc["kind"]] = (path, doc)
    return out


def _core_files() -> list[Path]:
    return sorted(
        {path for path, obj in _objects().values() if obj["apiVersion"] in CORE_API_VERSIONS}
    )


def _obj(kind: str) -> dict[str, Any]:
    return _objects()[kind][1]


def _container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = _obj("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_all_expected_objects_are_shipped() -> None:
    """Deployment, Service, ConfigMap, Secret example, ServiceMonitor, PrometheusRule and
    AlertmanagerConfig exist."""
    assert set(_objects()) == {
        "Deployment", "Service", "ConfigMap", "Secret", "ServiceMonitor", "PrometheusRule",
        "AlertmanagerConfig",
    }  # fmt: skip


def test_core_manifests_pass_kubernetes_validate_strict() -> None:
    """kubernetes-validate --strict accepts every core object (unknown fields would fail)."""
    files = _core_files()
    assert {p.name for p in files} >= {"deployment.yaml", "service.yaml", "configmap.yaml"}
    result = run([require_tool("kubernetes-validate"), "--strict", *map(str, files)])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for path in files:
        assert f"{path.name} passed" in output, output


def test_kubernetes_validate_strict_rejects_an_unknown_field(tmp_path: Path) -> None:
    """The validator really is strict: a misspelt field fails (so the test above can fail)."""
    deployment = _obj("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    bad = tmp_path / "deployment.yaml"
    bad.write_text(yaml.safe_dump(deployment))
    result = run([require_tool("kubernetes-validate"), "--strict", str(bad)])
    assert result.returncode != 0
    assert "readinessProbes" in result.stdout + result.stderr


def test_deployment_runs_one_replica_recreated() -> None:
    """One replica with Recreate: never two pollers spending the API budget at once."""
    spec = _obj("Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_deployment_is_locked_down() -> None:
    """Non-root uid 10001, read-only root, no privilege escalation, no capabilities, seccomp."""
    pod = _obj("Deployment")["spec"]["template"]["spec"]
    sc = _container()["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    resources = _container()["resources"]
    assert set(resources) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


def test_probes_use_healthz_and_readyz_on_the_metrics_port() -> None:
    """Liveness asks /healthz, readiness /readyz, both on the named port 9864."""
    container = _container()
    assert container["ports"] == [{"name": "metrics", "containerPort": 9864, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}


def test_credentials_come_from_the_secret_as_files() -> None:
    """GENESYS_*_FILE point at the keys of the mounted Secret; no secret value in the env."""
    container = _container()
    pod = _obj("Deployment")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in container["env"]}
    assert "GENESYS_CLIENT_SECRET" not in env
    assert "GENESYS_CLIENT_ID" not in env
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    secret = _obj("Secret")
    assert volumes["credentials"]["secret"]["secretName"] == secret["metadata"]["name"]
    mount_path = mounts["credentials"]["mountPath"]
    for var, key in (
        ("GENESYS_CLIENT_ID_FILE", "client-id"),
        ("GENESYS_CLIENT_SECRET_FILE", "client-secret"),
    ):
        assert env[var]["value"] == f"{mount_path}/{key}"
        assert key in secret["stringData"]
    assert "REPLACE" in secret["stringData"]["client-secret"]


def test_config_map_is_mounted_where_the_image_looks() -> None:
    """The ConfigMap's poller.yaml lands at the image's POLLER_CONFIG path."""
    container = _container()
    pod = _obj("Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    config_map = _obj("ConfigMap")
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    path = f"{mounts['config']['mountPath']}/poller.yaml"
    assert "poller.yaml" in config_map["data"]
    assert f"POLLER_CONFIG={path}" in DOCKERFILE.read_text()


def test_config_map_config_passes_check_config(tmp_path: Path) -> None:
    """The shipped ConfigMap's config is accepted by `genesyscloud-poller check-config`."""
    config = tmp_path / "poller.yaml"
    config.write_text(_obj("ConfigMap")["data"]["poller.yaml"])
    result = run(
        [sys.executable, "-m", "poller", "check-config", "--config", str(config)], cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listen = load_yaml(config)["server"]["listen"]
    assert listen == "0.0.0.0:9864"


def test_service_exposes_the_metrics_port_of_the_pods() -> None:
    """The Service selects the pods and names its port metrics (9864)."""
    service = _obj("Service")
    pod_labels = _obj("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9864, "targetPort": "metrics", "protocol": "TCP"}
    ]


def test_service_monitor_scrapes_the_service() -> None:
    """The ServiceMonitor selects the Service by label and scrapes its metrics port."""
    monitor = _obj("ServiceMonitor")
    service = _obj("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
    # The job label is the Service's name; GenesysCloudPollerDown selects on it.
    assert service["metadata"]["name"] == "genesyscloud-poller"


def test_prometheus_rule_carries_exactly_the_shipped_rules() -> None:
    """The PrometheusRule's groups are identical to deploy/prometheus's rules file."""
    rule = _obj("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(rule["spec"]) == {"groups"}
    assert rule["spec"]["groups"] == rule_groups()


# The fields of monitoring.coreos.com/v1alpha1 AlertmanagerConfig (Prometheus Operator CRD,
# v0.93) that the shipped object uses, each object closed to others: a misspelt or misplaced key
# fails here as it would at `kubectl apply` (the operator decodes child routes, which the CRD
# leaves open, strictly too).
_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?"
             r"(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}  # fmt: skip
_MATCHERS = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "value": {"type": "string"},
            "matchType": {"enum": ["!=", "=", "=~", "!~"]},
        },
    },
}
_ROUTE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "receiver": {"type": "string"},
        "groupBy": {"type": "array", "items": {"type": "string"}},
        "groupWait": _DURATION,
        "groupInterval": _DURATION,
        "repeatInterval": _DURATION,
        "matchers": _MATCHERS,
        "continue": {"type": "boolean"},
        "routes": {"type": "array", "items": {"$ref": "#/$defs/route"}},
    },
}
ALERTMANAGER_CONFIG_SCHEMA = {
    "$defs": {"route": _ROUTE},
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1alpha1"},
        "kind": {"const": "AlertmanagerConfig"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "route": {"$ref": "#/$defs/route"},
                "receivers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "webhookConfigs": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "url": {"type": "string", "pattern": "^https?://.+$"},
                                        "sendResolved": {"type": "boolean"},
                                        "maxAlerts": {"type": "integer", "minimum": 0},
                                        "timeout": _DURATION,
                                    },
                                },
                            },
                        },
                    },
                },
                "inhibitRules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "sourceMatch": _MATCHERS,
                            "targetMatch": _MATCHERS,
                            "equal": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
}


def test_alertmanager_config_matches_the_operator_schema() -> None:
    """The AlertmanagerConfig validates against the CRD's fields for what it uses."""
    jsonschema.validate(_obj("AlertmanagerConfig"), ALERTMANAGER_CONFIG_SCHEMA)


def test_alertmanager_config_schema_rejects_a_misspelt_field() -> None:
    """The schema is closed: snake_case from alertmanager.yml in a child route fails."""
    config = _obj("AlertmanagerConfig")
    config["spec"]["route"]["routes"][0]["group_wait"] = "10s"
    with pytest.raises(jsonschema.ValidationError, match="group_wait"):
        jsonschema.validate(config, ALERTMANAGER_CONFIG_SCHEMA)


_MATCHER = re.compile(r'^(\w+)(=~|!~|!=|=)"(.*)"$')


def _plain_matchers(matchers: list[str]) -> list[tuple[str, str, str]]:
    """alertmanager.yml's `name="value"` matchers as (name, operator, value)."""
    out = []
    for matcher in matchers:
        found = _MATCHER.match(matcher)
        assert found is not None, matcher
        out.append((found[1], found[2], found[3]))
    return out


def _operator_matchers(matchers: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(m["name"], m.get("matchType", "="), m.get("value", "")) for m in matchers]


def _plain_route(route: dict[str, Any]) -> dict[str, Any]:
    """alertmanager.yml's route in one comparable form."""
    return {
        "matchers": _plain_matchers(route.get("matchers", [])),
        "receiver": route.get("receiver"),
        "group_by": route.get("group_by"),
        "timing": [route.get(k) for k in ("group_wait", "group_interval", "repeat_interval")],
        "routes": [_plain_route(r) for r in route.get("routes", [])],
    }


def _operator_route(route: dict[str, Any]) -> dict[str, Any]:
    """The AlertmanagerConfig's route in the same form."""
    return {
        "matchers": _operator_matchers(route.get("matchers", [])),
        "receiver": route.get("receiver"),
        "group_by": route.get("groupBy"),
        "timing": [route.get(k) for k in ("groupWait", "groupInterval", "repeatInterval")],
        "routes": [_operator_route(r) for r in route.get("routes", [])],
    }


def test_alertmanager_config_routes_and_inhibitions_equal_alertmanager_yml() -> None:
    """Routes, timings, receivers' webhooks and inhibitions are those of
    deploy/alertmanager/alertmanager.yml, the one source of truth."""
    plain = load_yaml(ALERTMANAGER_CONFIG)
    spec = _obj("AlertmanagerConfig")["spec"]
    assert _operator_route(spec["route"]) == _plain_route(plain["route"])
    assert [
        (r["name"], [(w["url"], w.get("sendResolved")) for w in r.get("webhookConfigs", [])])
        for r in spec["receivers"]
    ] == [
        (r["name"], [(w["url"], w.get("send_resolved")) for w in r.get("webhook_configs", [])])
        for r in plain["receivers"]
    ]
    assert [
        (_operator_matchers(i["sourceMatch"]), _operator_matchers(i["targetMatch"]), i["equal"])
        for i in spec["inhibitRules"]
    ] == [
        (_plain_matchers(i["source_matchers"]), _plain_matchers(i["target_matchers"]), i["equal"])
        for i in plain["inhibit_rules"]
    ]
    assert len(spec["inhibitRules"]) == 2


def test_kustomization_lists_existing_manifests_but_not_the_secret_example() -> None:
    """kubectl apply -k applies real files, and never the placeholder Secret."""
    resources = load_yaml(KUBERNETES / "kustomization.yaml")["resources"]
    assert [r for r in resources if not (KUBERNETES / r).is_file()] == []
    assert "secret.example.yaml" not in resources
    expected = {p.name for p, _ in _objects().values()} - {"secret.example.yaml"}
    assert set(resources) == expected


# ------------------------------------------------------------------ kustomize builds

SHARDS = 3  # the replicas count that deploy/kubernetes-sharded/kustomization.yaml ships


def _kustomize(directory: Path) -> dict[str, dict[str, Any]]:
    """kind -> object rendered by `kubectl kustomize directory` (one object of each kind)."""
    result = run([require_tool("kubectl"), "kustomize", str(directory)])
    assert result.returncode == 0, result.stderr
    out: dict[str, dict[str, Any]] = {}
    for doc in yaml.safe_load_all(result.stdout):
        assert doc["kind"] not in out, f"two {doc['kind']} objects"
        out[doc["kind"]] = doc
    return out


def _sharded() -> dict[str, dict[str, Any]]:
    return _kustomize(KUBERNETES_SHARDED)


def _sharded_pod() -> dict[str, Any]:
    pod: dict[str, Any] = _sharded()["StatefulSet"]["spec"]["template"]["spec"]
    return pod


def _sharded_container() -> dict[str, Any]:
    (container,) = _sharded_pod()["containers"]
    assert isinstance(container, dict)
    return container


def _sharded_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(_sharded()["ConfigMap"]["data"]["poller.yaml"])
    return config


def _sharded_secret_example() -> dict[str, Any]:
    (secret,) = load_yaml_all(KUBERNETES_SHARDED / "secret.example.yaml")
    assert isinstance(secret, dict)
    return secret


@pytest.mark.parametrize(
    ("directory", "kinds"),
    [
        pytest.param(
            KUBERNETES,
            [
                "AlertmanagerConfig",
                "ConfigMap",
                "Deployment",
                "PrometheusRule",
                "Service",
                "ServiceMonitor",
            ],
            id="kubernetes",
        ),
        pytest.param(
            KUBERNETES_SHARDED,
            [
                "AlertmanagerConfig",
                "ConfigMap",
                "PodDisruptionBudget",
                "PrometheusRule",
                "Service",
                "ServiceMonitor",
                "StatefulSet",
            ],
            id="kubernetes-sharded",
        ),
    ],
)
def test_kustomize_renders_every_object_of_the_variant(directory: Path, kinds: list[str]) -> None:
    """`kubectl kustomize` renders exactly the variant's objects, none of them a Secret."""
    assert sorted(_kustomize(directory)) == kinds


@pytest.mark.parametrize("directory", [KUBERNETES, KUBERNETES_SHARDED], ids=lambda p: p.name)
def test_rendered_core_objects_pass_kubernetes_validate_strict(
    tmp_path: Path, directory: Path
) -> None:
    """kubernetes-validate --strict accepts every core object that kustomize renders."""
    core = [o for o in _kustomize(directory).values() if o["apiVersion"] in CORE_API_VERSIONS]
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(core))
    result = run([require_tool("kubernetes-validate"), "--strict", str(rendered)])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for obj in core:
        assert f"passed for resource {obj['kind'].lower()}/genesyscloud-poller" in output, output


def test_sharded_operator_objects_are_the_base_ones() -> None:
    """The sharded variant ships the base's ServiceMonitor, PrometheusRule and
    AlertmanagerConfig unchanged."""
    sharded = _sharded()
    assert sharded["ServiceMonitor"] == _obj("ServiceMonitor")
    assert sharded["AlertmanagerConfig"] == _obj("AlertmanagerConfig")
    assert sharded["PrometheusRule"]["spec"]["groups"] == rule_groups()


def test_sharded_shard_count_equals_replicas() -> None:
    """POLLER_SHARD_COUNT is the StatefulSet's replicas, as kustomization.yaml sets them."""
    statefulset = _sharded()["StatefulSet"]
    env = {e["name"]: e for e in _sharded_container()["env"]}
    assert statefulset["spec"]["replicas"] == SHARDS
    assert env["POLLER_SHARD_COUNT"] == {"name": "POLLER_SHARD_COUNT", "value": str(SHARDS)}
    (replicas,) = load_yaml(KUBERNETES_SHARDED / "kustomization.yaml")["replicas"]
    assert replicas == {"name": "genesyscloud-poller", "count": SHARDS}


def test_sharded_shard_count_follows_a_changed_replicas_count(tmp_path: Path) -> None:
    """Changing only `replicas` in kustomization.yaml changes the shard count with it."""
    for directory in (KUBERNETES, KUBERNETES_SHARDED):
        shutil.copytree(directory, tmp_path / directory.name)
    kustomization = tmp_path / KUBERNETES_SHARDED.name / "kustomization.yaml"
    text = kustomization.read_text()
    assert text.count(f"count: {SHARDS}\n") == 1
    kustomization.write_text(text.replace(f"count: {SHARDS}\n", "count: 5\n"))
    statefulset = _kustomize(kustomization.parent)["StatefulSet"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert (statefulset["spec"]["replicas"], env["POLLER_SHARD_COUNT"]) == (5, "5")


def test_sharded_pods_take_their_shard_index_from_the_hostname() -> None:
    """The pod template passes --shard.index auto, and no fixed index in the environment."""
    container = _sharded_container()
    assert container["args"][-2:] == ["--shard.index", "auto"]
    assert container["args"][:-2] == _container()["args"]
    assert [e["name"] for e in container["env"]] == ["POLLER_CONFIG", "POLLER_SHARD_COUNT"]
    spec = _sharded()["StatefulSet"]["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["serviceName"] == _sharded()["Service"]["metadata"]["name"]


def test_sharded_pods_are_the_deployment_s_pods_but_for_args_and_env() -> None:
    """Security settings, probes, resources, image and volumes equal the Deployment's."""
    deployment = _kustomize(KUBERNETES)["Deployment"]["spec"]["template"]
    statefulset = _sharded()["StatefulSet"]["spec"]["template"]
    for template in (deployment, statefulset):
        for container in template["spec"]["containers"]:
            del container["args"], container["env"]
    assert statefulset == deployment
    assert statefulset["spec"]["securityContext"]["runAsNonRoot"] is True


def test_sharded_service_is_headless_and_selects_the_pods() -> None:
    """The Service has no cluster IP, selects the StatefulSet's pods and names port metrics."""
    service = _sharded()["Service"]
    pod_labels = _sharded()["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9864, "targetPort": "metrics", "protocol": "TCP"}
    ]


def test_sharded_service_monitor_selects_the_headless_service() -> None:
    """The ServiceMonitor selects the headless Service by its labels, so every pod is a target."""
    sharded = _sharded()
    service = sharded["Service"]
    monitor = sharded["ServiceMonitor"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    # The job label is the Service's name; GenesysCloudPollerDown selects on it.
    assert service["metadata"]["name"] == "genesyscloud-poller"


def test_sharded_disruption_budget_allows_one_pod_down() -> None:
    """The PodDisruptionBudget covers the StatefulSet's pods and lets one go at a time."""
    sharded = _sharded()
    budget = sharded["PodDisruptionBudget"]
    assert budget["spec"] == {
        "maxUnavailable": 1,
        "selector": sharded["StatefulSet"]["spec"]["selector"],
    }


def test_sharded_orgs_read_their_credentials_from_the_mounted_secret() -> None:
    """Each org's id and secret files are keys of the Secret example under its mount."""
    container = _sharded_container()
    volumes = {v["name"]: v for v in _sharded_pod()["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    secret = _sharded_secret_example()
    assert volumes["credentials"]["secret"]["secretName"] == secret["metadata"]["name"]
    orgs = _sharded_config()["orgs"]
    assert [org["name"] for org in orgs] == ["acme", "globex"]
    keys = set()
    for org in orgs:
        for kind in ("id", "secret"):
            key = f"{org['name']}-client-{kind}"
            assert org[f"client_{kind}_file"] == f"{mounts['credentials']}/{key}"
            keys.add(key)
    assert set(secret["stringData"]) == keys
    assert all("REPLACE" in secret["stringData"][f"{o['name']}-client-secret"] for o in orgs)
    assert not any(e["name"].startswith("GENESYS_") for e in container["env"])


def test_sharded_kustomization_does_not_apply_the_secret_example() -> None:
    """kubectl apply -k builds on the base and never applies the placeholder Secret."""
    resources = load_yaml(KUBERNETES_SHARDED / "kustomization.yaml")["resources"]
    assert resources == ["../kubernetes", "statefulset.yaml", "poddisruptionbudget.yaml"]
    assert "Secret" not in _sharded()


def test_sharded_config_passes_check_config(tmp_path: Path) -> None:
    """The sharded ConfigMap's `orgs:` config passes `check-config`, which plans every org, and
    with the kustomization's shard count assigns each org to one shard."""
    config = _sharded_config()
    path = tmp_path / "poller.yaml"
    path.write_text(_sharded()["ConfigMap"]["data"]["poller.yaml"])
    command = ["check-config", "--config", str(path), "--shard.count", "3"]
    result = run([sys.executable, "-m", "poller", *command], cwd=ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    names = [org["name"] for org in config["orgs"]]
    assert [line.split(" (")[0] for line in output.splitlines() if line.startswith("Org ")] == [
        f"Org {name}" for name in names
    ]
    shard_lines = [line for line in output.splitlines() if line.startswith("  shard ")]
    assigned = [org for line in shard_lines for org in line.split(": ", 1)[1].split(", ")]
    assigned = [org for org in assigned if org != "no orgs"]
    assert sorted(assigned) == sorted(names)
