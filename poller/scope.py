"""How one org's things are named, in one place: its store entries and scheduler jobs, the
labels every series of its starts with, and the fields its log lines carry.

The one org of a config without `orgs:` is unnamed (""): its names are exactly what they were
before orgs existed, with no `org` label and no org field. Whether an output names orgs is
decided here and nowhere else: from an org's name (`key`, `org_labels`, `log_fields`), or from
the config (`labelled`, `labelled_fields`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from poller.config.model import Config

Labels = tuple[tuple[str, str], ...]

ORG_LABEL: Final = "org"


def key(org: str, name: str) -> str:
    """The store entry and scheduler job of `name` (a query, or a names entry) of org `org`.
    Org and query names never hold a slash, so the key is unambiguous."""
    return f"{org}/{name}" if org else name


def split(key_: str) -> tuple[str, str]:
    """key() reversed: (org, name)."""
    org, _, name = key_.rpartition("/")
    return org, name


def org_labels(org: str) -> Labels:
    """The labels every series of org `org` starts with."""
    return ((ORG_LABEL, org),) if org else ()


def series_labels(org: str, query: str) -> Labels:
    """The labels every flow series of a query starts with: org (when named), then query."""
    return (*org_labels(org), ("query", query))


def log_fields(org: str) -> dict[str, str]:
    """What a log line about org `org` adds to its fields."""
    return {ORG_LABEL: org} if org else {}


def line_about(org: str, text: str) -> str:
    """A line of text about org `org`: "Org acme: text", or "Text" for the unnamed org."""
    return f"Org {org}: {text}" if org else text[:1].upper() + text[1:]


def labelled(config: Config) -> bool:
    """Whether `config` names its orgs (it lists `orgs:`): its series carry `org` then, and so do
    the log lines, bodies and texts about its orgs."""
    return bool(config.orgs)


def labelled_fields(config: Config, **fields: Any) -> dict[str, Any]:
    """`fields` for a log line or body about the orgs; none for a config without `orgs:`."""
    return fields if labelled(config) else {}
