"""structlog set-up: JSON lines when the log stream is not a terminal, readable console otherwise.

The stream is stdout for the serving commands, stderr for those whose stdout is their product
(`once` prints the exposition, `check-config` the plan), so a pipe carries that product alone.

A last processor scrubs every registered secret (client secret, access tokens) from whatever an
event carries, tracebacks included, as a second line of defence behind code that never logs them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

LogFormat = Literal["json", "console"]
LEVELS = ("debug", "info", "warning", "error")
REDACTED = "********"

_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Never let `value` reach a log line. Short strings are ignored (they'd redact words)."""
    if len(value) >= 6:
        _secrets.add(value)


def forget_secret(value: str) -> None:
    _secrets.discard(value)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not _secrets:
        return event
    for key, value in list(event.items()):
        event[key] = _scrub(value)
    return event


def default_format(stream: TextIO | None = None) -> LogFormat:
    return "console" if (stream or sys.stdout).isatty() else "json"


def configure_logging(
    level: str = "info", fmt: LogFormat | None = None, stream: TextIO | None = None
) -> None:
    """structlog for our events, and the same rendering (and redaction) for what aiohttp,
    asyncio and APScheduler log through the standard library, so `stream` (default stdout) is
    one format."""
    stream = stream or sys.stdout
    fmt = fmt or default_format(stream)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    numeric = getattr(logging, level.upper(), logging.INFO)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # APScheduler narrates every run at INFO; our own events already say what matters.
    logging.getLogger("apscheduler").setLevel(max(numeric, logging.WARNING))
