"""The status of a poller with no orgs and no reload yet, for servers built without a daemon."""

from __future__ import annotations

import platform
from typing import Any

from poller import __version__
from poller.statusdata import SHAPE


def blank_status() -> dict[str, Any]:
    return {
        "shape": SHAPE,
        "generated_at": None,
        "poller": {
            "version": __version__,
            "python": platform.python_version(),
            "config": None,
            "started_at": None,
            "last_reload": None,
            "shard": None,
        },
        "orgs": [],
    }
