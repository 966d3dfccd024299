"""plan_reload: what a config reload must do, for each kind of change (pure, no event loop)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from poller.config.model import (
    Config,
    CredentialSource,
    GenesysSettings,
    NamesSettings,
    OrgConfig,
    PushSettings,
    QueryConfig,
    ServerSettings,
)
from poller.reload import OrgSteps, ReloadPlan, plan_reload, server_changes
from poller.shard import Shard

GENESYS = GenesysSettings(
    region="mypurecloud.ie",
    api_base_url="https://api.mypurecloud.ie",
    login_base_url="https://login.mypurecloud.ie",
    requests_per_minute=300,
)
A = QueryConfig(name="a", type="aggregate", every=60.0, metrics=("nFlow",))
B = QueryConfig(name="b", type="observation", every=30.0, metrics=("oFlow",))
C = QueryConfig(name="c", type="aggregate", every=300.0, metrics=("tFlow",))
PUSHED = dataclasses.replace(GENESYS, push=PushSettings(enabled=True))
BASE = Config(genesys=GENESYS, server=ServerSettings(), queries=(A, B), source="poller.yaml")
ORG_NAMES = ("acme", "globex", "initech", "umbrella", "hooli", "wonka")


def changed(**fields: Any) -> Config:
    return dataclasses.replace(BASE, **fields)


def genesys(**fields: Any) -> GenesysSettings:
    return dataclasses.replace(GENESYS, **fields)


def kept(**steps: Any) -> ReloadPlan:
    """The plan of a config without `orgs:` whose one org takes `steps`."""
    return ReloadPlan(keep={"": OrgSteps(**steps)})


def org(name: str, *queries: QueryConfig, **settings: Any) -> OrgConfig:
    env = name.upper()
    source = CredentialSource(client_id_env=f"{env}_ID", client_secret_env=f"{env}_SECRET")
    return OrgConfig(name, genesys(**settings), source, queries or (A, B))


def with_orgs(*orgs: OrgConfig) -> Config:
    return changed(orgs=orgs)


CASES = [
    pytest.param(BASE, kept(), id="no-change"),
    pytest.param(changed(source="/etc/poller.yaml"), kept(), id="only-the-path-differs"),
    pytest.param(changed(queries=(B, A)), kept(), id="queries-reordered"),
    pytest.param(changed(queries=(A, B, C)), kept(add=("c",)), id="query-added"),
    pytest.param(changed(queries=(A,)), kept(remove=("b",), cancel=("b",)), id="query-removed"),
    pytest.param(
        changed(queries=(dataclasses.replace(A, every=120.0), B)),
        kept(replace=("a",), cancel=("a",)),
        id="query-changed",
    ),
    pytest.param(
        changed(queries=(C, dataclasses.replace(B, metrics=("oFlow", "oUsers")))),
        kept(remove=("a",), add=("c",), replace=("b",), cancel=("a", "b")),
        id="added-removed-and-changed-at-once",
    ),
    pytest.param(
        changed(genesys=genesys(timeout=10.0)),
        kept(cancel=("a", "b"), cancel_names=True, rebuild_client=True),
        id="genesys-changed-same-rate",
    ),
    pytest.param(
        changed(genesys=genesys(requests_per_minute=100)),
        kept(cancel=("a", "b"), cancel_names=True, rebuild_client=True, rate_changed=True),
        id="genesys-changed-new-rate",
    ),
    pytest.param(
        changed(genesys=genesys(api_base_url="http://127.0.0.1:8080"), queries=(A, C)),
        kept(remove=("b",), add=("c",), cancel=("a", "b"), cancel_names=True, rebuild_client=True),
        id="genesys-and-queries-changed",
    ),
    pytest.param(
        changed(names=NamesSettings(every=60.0)),
        kept(cancel_names=True, names_changed=True),
        id="names-changed",
    ),
    pytest.param(
        changed(genesys=genesys(push=PushSettings(enabled=True))),
        kept(cancel=("a", "b"), cancel_names=True, rebuild_client=True, restart_push=True),
        id="push-turned-on",
    ),
    pytest.param(
        changed(server=ServerSettings(host="127.0.0.1", port=9999)),
        ReloadPlan(keep={"": OrgSteps()}, server_ignored=True),
        id="server-changed",
    ),
    pytest.param(
        changed(warnings=("queries[0].metrics[0]: unknown metric 'nFlw'",)),
        ReloadPlan(
            keep={"": OrgSteps()}, warnings=("queries[0].metrics[0]: unknown metric 'nFlw'",)
        ),
        id="warnings-of-the-new-config",
    ),
]


@pytest.mark.parametrize(("new", "expected"), CASES)
def test_plan_applies_exactly_the_change(new: Config, expected: ReloadPlan) -> None:
    """Each kind of config change gives a plan that touches what changed and nothing else."""
    assert plan_reload(BASE, new) == expected


def test_with_push_on_a_query_change_restarts_push() -> None:
    """A query added or changed while push is on restarts it; a names change alone does not."""
    running = changed(genesys=PUSHED)
    added = changed(genesys=PUSHED, queries=(A, B, C))
    assert plan_reload(running, added) == kept(add=("c",), cancel=("a", "b"), restart_push=True)
    names = changed(genesys=PUSHED, names=NamesSettings(every=60.0))
    assert plan_reload(running, names) == kept(cancel_names=True, names_changed=True)


def test_plan_lists_queries_in_config_order() -> None:
    """Removed queries come in the old config's order, added ones in the new config's order."""
    d = dataclasses.replace(C, name="d")
    old = changed(queries=(B, A, C))
    new = changed(queries=(d, dataclasses.replace(A, name="e")))
    steps = plan_reload(old, new).keep[""]
    assert (steps.remove, steps.add) == (("b", "a", "c"), ("d", "e"))


def test_an_orgs_new_credentials_rebuild_its_client() -> None:
    """Rotated credentials (same hosts and queries) need a new client and abandon polls in
    flight, as new hosts do; the rate and queries stay, and other orgs are untouched."""
    assert plan_reload(BASE, BASE, credentials_changed={""}) == kept(
        cancel=("a", "b"), cancel_names=True, rebuild_client=True
    )
    running = with_orgs(org("acme"), org("globex"))
    assert plan_reload(running, running, credentials_changed={"globex"}) == ReloadPlan(
        keep={
            "acme": OrgSteps(),
            "globex": OrgSteps(cancel=("a", "b"), cancel_names=True, rebuild_client=True),
        }
    )


def test_orgs_added_removed_and_kept() -> None:
    """An org only the new config lists starts, one it no longer lists stops (in the running
    config's order), and a kept one changes only what its own config changed."""
    running = with_orgs(org("acme"), org("globex"), org("umbrella"))
    new = with_orgs(org("initech"), org("acme"), org("hooli", C), org("umbrella", A))
    assert plan_reload(running, new) == ReloadPlan(
        add=("initech", "hooli"),
        remove=("globex",),
        keep={"acme": OrgSteps(), "umbrella": OrgSteps(remove=("b",), cancel=("b",))},
    )


def test_a_kept_orgs_own_settings_change_only_it() -> None:
    """One org's new rate rebuilds its client and budget; the other org's plan is empty."""
    running = with_orgs(org("acme"), org("globex"))
    new = with_orgs(org("acme"), org("globex", requests_per_minute=60))
    assert plan_reload(running, new).keep == {
        "acme": OrgSteps(),
        "globex": OrgSteps(
            cancel=("a", "b"), cancel_names=True, rebuild_client=True, rate_changed=True
        ),
    }


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        # Shard 0 of 2 owns acme, initech, umbrella and hooli; shard 1 globex and wonka.
        (0, ReloadPlan(add=("umbrella", "hooli"), remove=("acme",), keep={"initech": OrgSteps()})),
        (1, ReloadPlan(add=("wonka",), keep={"globex": OrgSteps()})),
    ],
)
def test_a_shard_plans_only_the_orgs_it_owns(index: int, expected: ReloadPlan) -> None:
    """A replica adds, keeps and removes only the orgs its shard owns; another's are no step."""
    running = with_orgs(*(org(name) for name in ORG_NAMES[:3]))
    new = with_orgs(*(org(name) for name in ORG_NAMES[1:]))
    assert plan_reload(running, new, shard=Shard(index, 2)) == expected


@pytest.mark.parametrize(
    ("running", "new"),
    [
        pytest.param(BASE, with_orgs(org("acme")), id="adding-orgs"),
        pytest.param(with_orgs(org("acme")), BASE, id="removing-orgs"),
    ],
)
def test_switching_between_orgs_and_one_org_is_refused(running: Config, new: Config) -> None:
    """Adding or removing `orgs:` would relabel every series: the plan refuses it, naming the
    restart, and plans nothing else."""
    plan = plan_reload(running, new)
    assert plan == ReloadPlan(refused=plan.refused)
    (problem,) = plan.refused
    assert problem.startswith("adding or removing orgs: changes the labels of every series (org)")
    assert problem.endswith("restart the poller to apply it")


def test_server_changes_name_each_changed_key_from_old_to_new() -> None:
    """What waits for a restart, in words: each changed server key, IPv6 hosts in brackets."""
    running = ServerSettings()
    assert server_changes(running, ServerSettings()) == ""
    assert server_changes(
        running, ServerSettings(host="::1", port=9999, decode_worker="at_start")
    ) == ("server.listen 0.0.0.0:9864 -> [::1]:9999, server.decode_worker on_demand -> at_start")
