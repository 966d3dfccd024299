"""What the rest of the daemon uses of a Genesys Cloud client, as Protocols: GenesysClient is
the real one, and a test's fake needs only the methods its code calls."""

from __future__ import annotations

from typing import Any, Protocol

from poller.genesys.http import QueryEndpoint, Reply
from poller.genesys.listings import PAGE_SIZE, Entity, Listing


class QueryClient(Protocol):
    """What a query's poll calls."""

    async def post(self, endpoint: QueryEndpoint, body: dict[str, Any]) -> Reply:
        """POST a query; its 200 reply, or an ApiError."""
        ...


class ListingClient(Protocol):
    """What the names refresh calls."""

    async def listing(
        self,
        listing: Listing,
        *,
        reserve: int,
        params: dict[str, str] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> list[Entity]:
        """Every entity of `listing`, all pages, or an ApiError."""
        ...
