"""What a config reload does, decided in one place: `plan_reload` compares the running config
with the new one and returns every step; `Daemon.apply` carries the plan out and decides nothing.

Pure (no I/O, no clock, no logging), so every kind of change is tested without an event loop.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

from poller import scope
from poller.config.model import Config, OrgConfig, ServerSettings
from poller.shard import Shard

ORGS_SWITCH: Final = (
    "adding or removing orgs: changes the labels of every series (org); "
    "restart the poller to apply it"
)
UNSHARDED: Final = Shard()  # the only replica: it owns every org
SERVER_AT_RESTART: Final = (
    "the server section (listen, decode_worker) takes effect at the next start"
)


@dataclass(frozen=True, slots=True)
class OrgSteps:
    """The steps of one org kept over a reload. Query names are in the order its config lists
    them (removed ones in the running config's order)."""

    remove: tuple[str, ...] = ()  # queries the new config no longer has
    add: tuple[str, ...] = ()  # queries only the new config has
    replace: tuple[str, ...] = ()  # queries whose definition changed
    cancel: tuple[str, ...] = ()  # queries whose polls in flight must be abandoned
    cancel_names: bool = False  # its names refresh in flight must be abandoned
    rebuild_client: bool = False  # its genesys settings or credentials changed
    rate_changed: bool = False  # its requests_per_minute changed: the budget is replaced
    names_changed: bool = False  # the names settings changed: its refresher is set up anew
    # Its push (channels and the fed queries' ledgers) starts anew: the client, the push
    # settings or the queries it feeds may have changed. Counters lose nothing: the next polls
    # give the exact figures again.
    restart_push: bool = False


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """The whole reload. When `refused` says why the new config needs a restart, nothing else is
    planned and nothing may change."""

    refused: tuple[str, ...] = ()
    add: tuple[str, ...] = ()  # orgs this replica starts polling, in the new config's order
    remove: tuple[str, ...] = ()  # orgs it stops polling, in the running config's order
    keep: Mapping[str, OrgSteps] = field(default_factory=dict)  # orgs polled before and after
    server_ignored: bool = False  # the server settings changed, which needs a restart
    warnings: tuple[str, ...] = ()  # the new config's warnings, to log


def plan_reload(
    running: Config,
    new: Config,
    *,
    shard: Shard = UNSHARDED,
    credentials_changed: Collection[str] = (),
) -> ReloadPlan:
    """The plan for switching from `running` to `new` on the replica `shard` (only the orgs it
    owns are added, kept or removed). `credentials_changed`: the kept orgs whose OAuth client's
    id or secret now reads differently, which needs a new client as new hosts do."""
    if scope.labelled(new) != scope.labelled(running):
        return ReloadPlan(refused=(ORGS_SWITCH,))
    before = {org.name: org for org in running.org_list() if shard.owns(org.name)}
    after = {org.name: org for org in new.org_list() if shard.owns(org.name)}
    names_changed = new.names != running.names
    return ReloadPlan(
        add=tuple(name for name in after if name not in before),
        remove=tuple(name for name in before if name not in after),
        keep={
            name: _plan_org(
                before[name],
                org,
                credentials_changed=name in credentials_changed,
                names_changed=names_changed,
            )
            for name, org in after.items()
            if name in before
        },
        server_ignored=new.server != running.server,
        warnings=new.warnings,
    )


def _plan_org(
    old: OrgConfig, new: OrgConfig, *, credentials_changed: bool, names_changed: bool
) -> OrgSteps:
    old_queries = {q.name: q for q in old.queries}
    new_queries = {q.name: q for q in new.queries}
    remove = tuple(name for name in old_queries if name not in new_queries)
    add = tuple(name for name in new_queries if name not in old_queries)
    replace = tuple(
        name for name, q in new_queries.items() if name in old_queries and old_queries[name] != q
    )
    rebuild_client = new.genesys != old.genesys or credentials_changed
    restart_push = (new.genesys.push.enabled or old.genesys.push.enabled) and (
        rebuild_client or bool(remove or add or replace)
    )
    if rebuild_client or restart_push:
        # Polls in flight use the old client, or the old push feed: abandon them all (their
        # next run uses the new one) so that closing the old one fails nothing and leaves no
        # session behind.
        cancel = tuple(old_queries)
    else:
        # A poll in flight of a removed or changed query would publish after the reload: series
        # of a query that no longer exists, or of its old definition.
        cancel = tuple(name for name in old_queries if name in remove or name in replace)
    return OrgSteps(
        remove=remove,
        add=add,
        replace=replace,
        cancel=cancel,
        # A names refresh in flight reads through the old client, or with the old settings.
        cancel_names=rebuild_client or names_changed,
        rebuild_client=rebuild_client,
        rate_changed=new.genesys.requests_per_minute != old.genesys.requests_per_minute,
        names_changed=names_changed,
        restart_push=restart_push,
    )


def server_changes(running: ServerSettings, new: ServerSettings) -> str:
    """What a reload leaves for the next start, in words ("" when the server section is the
    same): each changed key of `server`, from the running value to the new one."""
    changes = []
    if (new.host, new.port) != (running.host, running.port):
        changes.append(f"server.listen {_listen(running)} -> {_listen(new)}")
    if new.decode_worker != running.decode_worker:
        changes.append(f"server.decode_worker {running.decode_worker} -> {new.decode_worker}")
    return ", ".join(changes)


def _listen(server: ServerSettings) -> str:
    return (
        f"[{server.host}]:{server.port}" if ":" in server.host else f"{server.host}:{server.port}"
    )
