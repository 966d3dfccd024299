"""Publishing a new version of a flow: from a moment on, the flow's executions run version N+1.

A publish is a flow's own state beside its fault (`flowfaults`): executions that start at or
after its moment run the next major version (`Flow.next_version`, "13.0" after "12.0") and
carry it as `flowVersion` on every metric; earlier ones keep the old version to their end. The
Architect listing's `publishedVersion` is the new version from the moment on. With `worse`, the
new version is clearly worse: about a quarter of its outcomes fail (normally 1-3%), hang-ups
about double and self-service falls (see `activity.templates`). A fault set on the flow later
applies to either version; one publish per flow: publishing again replaces the moment and
`worse`, the version stays N+1.

`--faults` items: `publish:FLOW[:worse][@WHEN]`, FLOW a flow id or index, WHEN as for the flow
faults (`+5m` after start-up, or epoch seconds); see `parse_publish_item`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from poller.simulator.flowfaults import item_moment


@dataclass(frozen=True, slots=True)
class Publish:
    start_ms: int  # epoch ms: executions starting at or after it run the new version
    worse: bool = False

    def to_json(self) -> dict[str, object]:
        return {"at": self.start_ms / 1000, "worse": self.worse}


@dataclass(frozen=True, slots=True)
class PublishSpec:
    """A publish as `--faults` gives it, before the flow and the moment are resolved."""

    flow: str  # a flow id or index
    worse: bool = False
    at: float | None = None  # epoch seconds
    delay: float = 0.0  # seconds after start-up, when `at` is None


PUBLISH_PREFIX = "publish:"
_ITEM = re.compile(r"^publish:(?P<flow>[^:@]+)(?::(?P<how>[^@]*))?(?:@(?P<when>.*))?$")
EXAMPLE = "publish:3:worse@+5m"


def is_publish_item(item: str) -> bool:
    return item.strip().lower().startswith(PUBLISH_PREFIX)


def parse_publish_item(item: str) -> PublishSpec | str:
    """One `publish:FLOW[:worse][@WHEN]` item of `--faults` (a PublishSpec), or its problem."""
    m = _ITEM.match(item.strip().lower())
    if m is None or not m.group("flow").strip():
        return f"{item.strip()!r}: expected publish:FLOW[:worse][@WHEN], e.g. {EXAMPLE}"
    how = m.group("how")
    if how is not None and how.strip() != "worse":
        return f"{item.strip()!r}: after the flow only :worse may follow, e.g. {EXAMPLE}"
    when = item_moment(m.group("when"), repr(item.strip()))
    if isinstance(when, str):
        return when
    return PublishSpec(m.group("flow").strip(), how is not None, *when)
