"""The project's own error types, one family per stage, raised where the problem arises."""

from __future__ import annotations

from collections.abc import Sequence


class PollerError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(PollerError):
    """The configuration is invalid; the message names the place and the fix.

    `problems` holds every problem found, so one run shows them all. `lines` (parallel to
    `problems`, None where unknown) holds the YAML line of each; it shows only in `str()`, so
    `problems` stays comparable in tests.
    """

    def __init__(
        self, problems: list[str], source: str = "config", lines: Sequence[int | None] = ()
    ) -> None:
        self.problems = list(problems)
        self.source = source
        self.lines: tuple[int | None, ...] = tuple(lines)
        super().__init__("\n".join(self._located(i) for i in range(len(self.problems))))

    def _located(self, index: int) -> str:
        line = self.lines[index] if index < len(self.lines) else None
        where = self.source if line is None else f"{self.source}:{line}"
        return f"{where}: {self.problems[index]}"


class NormalizeError(PollerError):
    """A Genesys response does not have the documented shape."""


class ApiError(PollerError):
    """A call to Genesys Cloud failed. Never carries a secret or a token."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status: int | None = None,
        code: str | None = None,
        context_id: str | None = None,
        retryable: bool = False,
    ) -> None:
        self.message = message
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.context_id = context_id
        self.retryable = retryable
        super().__init__(self.describe())

    def describe(self) -> str:
        """The words, then the fields in brackets: Genesys' messages end without punctuation,
        and a field run into them would read as part of the sentence."""
        fields = []
        if self.status is not None:
            fields.append(f"status={self.status}")
        if self.code:
            fields.append(f"code={self.code}")
        if self.context_id:
            fields.append(f"contextId={self.context_id}")
        said = f"{self.endpoint}: {self.message}"
        return f"{said} [{' '.join(fields)}]" if fields else said


class TransportError(ApiError):
    """Timeout, connection reset, DNS failure: the request may never have reached Genesys."""


class ThrottledError(ApiError):
    """Genesys said 429 with a Retry-After too long to wait through (a daily cap, say)."""

    def __init__(self, message: str, *, retry_after: float, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class BadResponseError(ApiError):
    """The body was not JSON, was truncated, or was larger than the configured limit."""
