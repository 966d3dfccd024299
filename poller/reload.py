"""What a config reload changes: `plan_reload(old, new)` compares two configs and says what to do.

Pure (no I/O, no clock, no logging), so every kind of change is tested without an event loop;
`Daemon.apply` carries the plan out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from poller.config.model import Config, OrgConfig


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """The steps of one org's reload. Query names are in the order its config lists them."""

    remove: tuple[str, ...] = ()  # queries the new config no longer has
    add: tuple[str, ...] = ()  # queries only the new config has
    replace: tuple[str, ...] = ()  # queries whose definition changed
    cancel: tuple[str, ...] = ()  # queries whose polls in flight must be abandoned
    rebuild_client: bool = False  # the genesys settings changed
    rate_changed: bool = False  # genesys.requests_per_minute changed: the budget is replaced
    server_ignored: bool = False  # the server settings changed, which needs a restart
    warnings: tuple[str, ...] = ()  # the new config's warnings, to log


def plan_org(old: OrgConfig, new: OrgConfig, *, credentials_changed: bool = False) -> ReloadPlan:
    """The steps for one org kept over a reload (`credentials_changed`: its OAuth client's id or
    secret now reads differently, which needs a new client as new hosts do)."""
    old_queries = {q.name: q for q in old.queries}
    new_queries = {q.name: q for q in new.queries}
    remove = tuple(name for name in old_queries if name not in new_queries)
    add = tuple(name for name in new_queries if name not in old_queries)
    replace = tuple(
        name for name, q in new_queries.items() if name in old_queries and old_queries[name] != q
    )
    rebuild_client = new.genesys != old.genesys or credentials_changed
    if rebuild_client:
        # Polls in flight use the old client: abandon them all (their next run uses the new one)
        # so that closing the old client fails nothing and leaves no session behind.
        cancel = tuple(old_queries)
    else:
        # A poll in flight of a removed or changed query would publish after the reload: series
        # of a query that no longer exists, or of its old definition.
        cancel = tuple(name for name in old_queries if name in remove or name in replace)
    return ReloadPlan(
        remove=remove,
        add=add,
        replace=replace,
        cancel=cancel,
        rebuild_client=rebuild_client,
        rate_changed=new.genesys.requests_per_minute != old.genesys.requests_per_minute,
    )


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """The steps for a config without `orgs:` (its one org), with the server and warnings."""
    plan = plan_org(old.org_list()[0], new.org_list()[0])
    return dataclasses.replace(plan, server_ignored=new.server != old.server, warnings=new.warnings)
