"""One org's connection to Genesys Cloud: an HTTP session, its token source and its query
transport, built together and closed together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from poller.config.model import Credentials, GenesysSettings
from poller.genesys.budget import RequestBudget
from poller.genesys.http import HttpSession, QueryEndpoint, Reply
from poller.genesys.listings import PAGE_SIZE, Entity, Listing, list_all
from poller.genesys.notifications import Channel, ChannelSocket, Notifications
from poller.genesys.retry import RetryPolicy
from poller.genesys.token import TokenSource
from poller.genesys.transport import QueryTransport
from poller.selfmetrics import SelfMetrics
from poller.timing import Clocks


class GenesysClient:
    def __init__(
        self,
        settings: GenesysSettings,
        credentials: Credentials,
        metrics: SelfMetrics,
        *,
        clocks: Clocks | None = None,
        budget: RequestBudget | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        clocks = clocks or Clocks()
        policy = policy or RetryPolicy()
        self.budget = budget or RequestBudget(settings.requests_per_minute, clocks=clocks)
        self._http = HttpSession(settings, metrics, clocks=clocks)
        self._tokens = tokens = TokenSource(
            self._http, settings, credentials, metrics, clocks=clocks, policy=policy
        )
        self._transport = QueryTransport(
            self._http, tokens, self.budget, settings, metrics, clocks=clocks, policy=policy
        )
        self._notifications = Notifications(self._transport, self._http)

    async def post(self, endpoint: QueryEndpoint, body: dict[str, Any]) -> Reply:
        """POST a query; returns its 200 reply (raw body and correlation id)."""
        return await self._transport.post(endpoint, body)

    async def listing(
        self,
        listing: Listing,
        *,
        reserve: int,
        params: dict[str, str] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> list[Entity]:
        """Every entity of an Architect listing, all pages; behind the queries in the budget,
        keeping `reserve` places a minute for them."""
        return await list_all(
            self._transport, listing, reserve=reserve, params=params, page_size=page_size
        )

    async def create_channel(self) -> Channel:
        """A new notification channel (push)."""
        return await self._notifications.create_channel()

    async def subscribe(self, channel: Channel, topics: Sequence[str]) -> list[str]:
        """Replace the channel's topics, leaving out those the client may not read; the
        topics it now has."""
        return await self._notifications.subscribe(channel, topics)

    async def subscriptions(self, channel: Channel) -> list[str]:
        """The channel's topics."""
        return await self._notifications.subscriptions(channel)

    async def channel_exists(self, channel: Channel) -> bool:
        """Whether the channel is still valid (False: expired, evicted or deleted)."""
        return await self._notifications.exists(channel)

    async def connect(self, channel: Channel) -> ChannelSocket:
        """Open the channel's socket."""
        return await self._notifications.connect(channel)

    async def relogin(self) -> None:
        """Drop the current token and log in afresh (Genesys revoked it)."""
        if self._tokens.expires_at is not None:
            self._tokens.forget(await self._tokens.token())
        await self._tokens.token()

    async def login(self) -> float:
        """Log in now (if there is no valid token yet); the token's seconds left."""
        return await self._tokens.lifetime()

    def paused_until(self) -> float:
        """Until when Genesys asked (a 429's Retry-After, from either host) for no requests."""
        return max(self.budget.paused_until, self._tokens.paused_until)

    def token_expires_at(self) -> float | None:
        """When the current access token expires (None: not logged in)."""
        return self._tokens.expires_at

    def recent_answers(self) -> list[tuple[float, dict[str, int]]]:
        """How the API and login hosts answered, per minute, over the last minutes."""
        return self._http.recent.minutes()

    async def close(self) -> None:
        await self._http.close()
