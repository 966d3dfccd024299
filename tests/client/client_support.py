"""Constants and checks shared by the client tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from poller.config.model import Credentials, Secret
from poller.genesys import GenesysClient, QueryEndpoint
from poller.selfmetrics import SelfMetrics

CLIENT_ID = "poller-client-id-0042"
CLIENT_SECRET = "client-secret-Zq8-never-to-be-shown"
CREDENTIALS = Credentials(CLIENT_ID, Secret(CLIENT_SECRET))
P = "genesyscloud_poller_"

E = TypeVar("E", bound=BaseException)


class QueryingClient(GenesysClient):
    """The client as the tests use it: a query's 200 body, decoded."""

    async def query(self, endpoint: QueryEndpoint, body: dict[str, Any]) -> object:
        return json.loads((await self.post(endpoint, body)).body)


MakeClient = Callable[..., QueryingClient]
# expect_error(call, ErrorType) -> the error, checked for leaked secrets
ExpectError = Callable[[Awaitable[object], type[E]], Awaitable[E]]


def assert_no_secrets(error: BaseException, tokens: Iterable[str] = ()) -> None:
    """Neither the client secret nor any access token shows in the error, however it is printed."""
    shown = [str(error), repr(error), *(str(a) for a in error.args)]
    shown.append(str(getattr(error, "message", "")))
    for secret in (CLIENT_SECRET, *tokens):
        for text in shown:
            assert secret not in text, f"secret leaked into error text: {text!r}"


def sample(metrics: SelfMetrics, name: str, **labels: str) -> float:
    """A self-metric's value; 0 when the labelled series was never touched."""
    value = metrics.registry.get_sample_value(P + name, labels)
    return 0.0 if value is None else value
