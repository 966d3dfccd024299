"""OAuth client-credentials tokens: issued as random opaque strings, checked against expiry."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets


class TokenStore:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (client id, expires at)

    def issue(self, client_id: str, now: float) -> str:
        # Forget expired tokens here so a long demo does not grow the table without bound.
        self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (client_id, now + self.ttl)
        return token

    def owner(self, token: str) -> str | None:
        """The client a token was issued to, live or expired; None when unknown."""
        entry = self._tokens.get(token)
        return entry[0] if entry is not None else None

    def client(self, token: str, now: float) -> str | None:
        """The client a live token was issued to; None when unknown or expired."""
        entry = self._tokens.get(token)
        if entry is None or now >= entry[1]:
            return None
        return entry[0]


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client id, secret) from an `Authorization: Basic ...` header, or None."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
