"""Genesys-style error bodies (`ErrorBody`) and the exception that carries one to the handler."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web

JSON_TYPE = "application/json"


class GenesysError(Exception):
    """The simulator refuses a request the way Genesys Cloud would."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


class OAuthError(Exception):
    """The login host refuses a token request the OAuth way (RFC 6749 §5.2), not with the API
    host's error body: `{"error": ..., "description": ..., "error_description": ...}`."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def oauth_response(exc: OAuthError) -> web.Response:
    body = {
        "error": exc.error,
        "description": exc.description,
        "error_description": exc.description,
    }
    return json_response(body, status=exc.status)


def error_body(status: int, code: str, message: str, context_id: str) -> dict[str, object]:
    return {
        "message": message,
        "code": code,
        "status": status,
        "contextId": context_id,
        "details": [],
        "errors": [],
    }


def json_response(
    body: object, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type=JSON_TYPE,
        headers=headers,
    )


def rejection_response(exc: GenesysError, context_id: str) -> web.Response:
    body = error_body(exc.status, exc.code, exc.message, context_id)
    return json_response(body, status=exc.status, headers=exc.headers)


# Messages the real service uses for these codes (shared/genesys-api.md §4, §6).
AUTH_REQUIRED = "No authentication bearer token specified in authorization header."
BAD_CREDENTIALS = "Invalid login credentials."
MALFORMED = "The request could not be understood by the server due to malformed syntax."
SERVER_ERRORS: dict[int, tuple[str, str]] = {
    500: (
        "internal.server.error",
        "The server encountered an unexpected condition which prevented it from fulfilling "
        "the request.",
    ),
    502: ("bad.gateway", "The server received an invalid response from an upstream server."),
    503: (
        "service.unavailable",
        "Service Unavailable - The server is currently unavailable (because it is overloaded "
        "or down for maintenance).",
    ),
    504: ("request.timeout", "The request timed out."),
}


def rate_limited(retry_after: int) -> GenesysError:
    return GenesysError(
        429,
        "too.many.requests.retry.after",
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
        headers={"Retry-After": str(retry_after)},
    )


def missing_permission(permission: str) -> GenesysError:
    return GenesysError(
        403,
        "missing.permissions",
        f"You are missing the following permission(s): [{permission}]",
    )
