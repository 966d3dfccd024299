"""The one boundary for heavy work: a response's raw body in, its rendered families out.

Decoding, normalizing, rendering and compressing a 100k-sample response takes the better part
of a second of CPU. All of it runs in a worker process, which hands back ready bytes: the event
loop never holds the GIL for it, so scrapes and health checks are answered while it runs, and
the process's memory peak stays in the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import re
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, cast

import msgspec

from poller.config.model import QueryType
from poller.errors import NormalizeError, PollerError
from poller.normalize import normalize_aggregate, normalize_observation
from poller.render import RenderedFamily, render_snapshot
from poller.responses import AggregateResponse, ObservationResponse

Digested = dict[str, RenderedFamily]
Response = AggregateResponse | ObservationResponse

_AGGREGATE = msgspec.json.Decoder(AggregateResponse)
_OBSERVATION = msgspec.json.Decoder(ObservationResponse)
_SURROGATES = re.compile("[\ud800-\udfff]")


def _where(error: msgspec.ValidationError) -> str:
    """msgspec's `Expected ... - at `$.a[0].b`` as `a[0].b: Expected ...`."""
    text = str(error)
    message, sep, path = text.rpartition(" - at `$")
    if not sep:
        return f"response: {text}"
    return f"{path.rstrip('`').lstrip('.')}: {message}"


def _with_lone_surrogates_replaced(body: bytes) -> bytes | None:
    """`body` with lone surrogate escapes ("\\ud800") as U+FFFD, or None if it is not JSON.

    JSON's grammar allows them and Java-based services emit them (a name cut in the middle of
    an emoji); msgspec, rightly, refuses text that is not Unicode. One odd flow name must not
    cost a whole query its data, so such a body is read again the lenient way."""
    try:
        text = json.dumps(json.loads(body), ensure_ascii=False)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return _SURROGATES.sub("\ufffd", text).encode()


def _typed(decoder: msgspec.json.Decoder[Any], body: bytes) -> Response:
    try:
        return cast(Response, decoder.decode(body))
    except msgspec.ValidationError as err:  # valid JSON of the wrong shape
        raise NormalizeError(_where(err)) from None


def decode(kind: QueryType, body: bytes) -> Response:
    """The typed response, or NormalizeError naming where its shape is wrong."""
    decoder: msgspec.json.Decoder[Any] = _OBSERVATION if kind == "observation" else _AGGREGATE
    try:
        return _typed(decoder, body)
    except msgspec.DecodeError as err:
        mended = _with_lone_surrogates_replaced(body) if b"\\u" in body else None
        if mended is not None:
            with contextlib.suppress(msgspec.DecodeError):
                return _typed(decoder, mended)
        raise NormalizeError(f"response is not valid JSON ({err}, {len(body)} bytes)") from None


def digest(kind: QueryType, query: str, body: bytes) -> Digested:
    """A query's raw 200 body -> its families, rendered. Pure; raises NormalizeError."""
    response = decode(kind, body)
    if isinstance(response, ObservationResponse):
        snapshot = normalize_observation(query, response)
    else:
        snapshot = normalize_aggregate(query, response)
    return render_snapshot(snapshot)


class Digester:
    """Runs `digest` in a worker process (or in `executor`, for tests that need no process)."""

    def __init__(self, executor: Executor | None = None) -> None:
        self._given = executor
        self._pool: Executor | None = executor

    def _executor(self) -> Executor:
        if self._pool is None:
            # forkserver: workers start from a clean, single-threaded server process, never as
            # a fork of this one with its event loop and threads.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["poller.digest"])
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        return self._pool

    async def digest(self, kind: QueryType, query: str, body: bytes) -> Digested:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), digest, kind, query, body)
        except BrokenProcessPool:
            # The worker died (killed, out of memory): start a new one for the next poll.
            self.close()
            raise PollerError(
                "the worker process that decodes responses died; it restarts for the next poll"
            ) from None

    def close(self) -> None:
        if self._pool is not None and self._pool is not self._given:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._given
