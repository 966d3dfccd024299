"""aioresponses 0.7.9 made to work with aiohttp 3.14 (test-side only).

aiohttp 3.14 added a required keyword `stream_writer` to ClientResponse.__init__, which
aioresponses 0.7.9 does not pass, so every mocked response fails with a TypeError
(pnuckowski/aioresponses#289). This does what upstream PR #288 does: give the response a stand-in
writer whose `output_size` is 0 (the mocked request never uploaded anything).

REMOVE THIS MODULE when an aioresponses release includes the fix (PR #288 or #292): import
`aioresponses` from the package again and drop `CompatClientResponse` from the tests.
"""

from __future__ import annotations

import inspect
from typing import Any

import aioresponses as upstream
from aiohttp import ClientResponse

_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


class _NothingUploaded:
    """Stands in for the request's stream writer: the mocked request wrote no bytes."""

    output_size = 0


class CompatClientResponse(ClientResponse):
    """ClientResponse that supplies the `stream_writer` aioresponses 0.7.9 leaves out."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", _NothingUploaded())
        super().__init__(method, url, **kwargs)


class aioresponses(upstream.aioresponses):  # noqa: N801 - a drop-in for the upstream name
    """upstream aioresponses whose mocked responses default to CompatClientResponse."""

    def add(self, url: Any, method: str = "GET", **kwargs: Any) -> None:  # type: ignore[override]
        kwargs["response_class"] = kwargs.get("response_class") or CompatClientResponse
        super().add(url, method, **kwargs)
