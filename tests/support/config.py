"""Reading a parsed config in tests."""

from __future__ import annotations

from poller.config.model import Config, OrgConfig, QueryConfig


def query_named(config: Config | OrgConfig, name: str) -> QueryConfig:
    """The query `name` of a config's top-level `queries:`, or of one org."""
    (query,) = [q for q in config.queries if q.name == name]
    return query
