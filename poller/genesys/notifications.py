"""The Notifications API's channel calls (shared/genesys-api.md §11): create a channel, replace
or read its subscriptions, ask whether it still exists, and open its socket.

The calls go through the query transport: the org's budget, bearer token, one re-login on a
401, and the same retries. A channel's id and connectUri are capabilities (anyone holding the
URI reads the org's data): errors and reprs show the first 8 characters of an id, never a URI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import aiohttp
import msgspec

from poller.errors import ApiError, BadResponseError
from poller.genesys.http import HttpSession, NotificationsEndpoint, Reply
from poller.genesys.transport import QueryTransport
from poller.logsetup import register_secret

ENDPOINT: Final[NotificationsEndpoint] = "notifications"
CHANNELS_PATH: Final = "/api/v2/notifications/channels"
# Genesys documents no permission for the flow aggregate topics; this is the likely one
# (UNVERIFIED, shared/genesys-api.md §11.1). The channel calls themselves need none.
TOPIC_PERMISSION: Final = "analytics:flowAggregate:view"
SHOWN_ID: Final = 8


@dataclass(frozen=True, slots=True)
class Channel:
    """A notification channel: `id` and `connect_uri` are capabilities, left out of its repr."""

    id: str = field(repr=False)
    connect_uri: str = field(repr=False)
    expires: float  # Unix time

    @property
    def short(self) -> str:
        """The part of the id logs, metrics and pages may show."""
        return self.id[:SHOWN_ID]


class _ChannelBody(msgspec.Struct, gc=False):
    id: str
    connectUri: str  # noqa: N815 - the wire's name
    expires: str


class _Topic(msgspec.Struct, gc=False):
    id: str


class _Subscriptions(msgspec.Struct, gc=False):
    entities: list[_Topic]


_CHANNEL = msgspec.json.Decoder(_ChannelBody)
_SUBSCRIPTIONS = msgspec.json.Decoder(_Subscriptions)


class ChannelSocket:
    """A channel's open socket: text frames in, the ping out."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws

    async def receive(self) -> str | None:
        """The next text frame; None once the socket is closed or failed (binary frames, which
        the API never sends, are skipped)."""
        while True:
            try:
                message = await self._ws.receive()
            except (ConnectionError, aiohttp.ClientError, RuntimeError):
                return None
            if message.type == aiohttp.WSMsgType.TEXT:
                text: str = message.data
                return text
            if message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                return None

    async def send(self, text: str) -> None:
        """Send a text frame (the ping); a socket that is going away ignores it."""
        if not self._ws.closed:
            try:
                await self._ws.send_str(text)
            except (ConnectionError, aiohttp.ClientError):
                return

    async def close(self) -> None:
        await self._ws.close()

    @property
    def closed(self) -> bool:
        return self._ws.closed


class Notifications:
    """One org's channel calls, on its HTTP session and query transport."""

    def __init__(self, transport: QueryTransport, http: HttpSession) -> None:
        self._transport = transport
        self._http = http

    async def create_channel(self) -> Channel:
        """A new channel (POST .../channels)."""
        reply = await self._transport.call(
            "POST", ENDPOINT, CHANNELS_PATH, permission="none documented"
        )
        try:
            body = _CHANNEL.decode(reply.body)
            expires = datetime.fromisoformat(body.expires).timestamp()
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as err:
            # The message names the place; it never holds the body (the connectUri is in it).
            raise BadResponseError(
                f"the new channel's answer is not {{id, connectUri, expires}} ({_place(err)})",
                endpoint=ENDPOINT,
                status=reply.status,
                context_id=reply.correlation_id,
            ) from None
        if not body.id or not body.connectUri:
            raise BadResponseError(
                "the new channel's answer has an empty id or connectUri",
                endpoint=ENDPOINT,
                status=reply.status,
                context_id=reply.correlation_id,
            )
        # Should any log line ever hold the whole id (or the URI, which holds it): redacted.
        register_secret(body.id)
        return Channel(body.id, body.connectUri, expires)

    async def subscribe(self, channel: Channel, topics: Sequence[str]) -> list[str]:
        """Replace the channel's topics with `topics` (PUT, ignoreErrors=true: a topic the
        client may not read is left out rather than failing the call); the topics Genesys
        says the channel now has."""
        path = f"{CHANNELS_PATH}/{channel.id}/subscriptions?ignoreErrors=true"
        body = [{"id": topic} for topic in topics]
        return await self._topics(channel, "PUT", path, body)

    async def subscriptions(self, channel: Channel) -> list[str]:
        """The channel's topics (GET)."""
        return await self._topics(channel, "GET", f"{CHANNELS_PATH}/{channel.id}/subscriptions")

    async def exists(self, channel: Channel) -> bool:
        """Whether the channel is still valid (HEAD: 200), False when it is gone (404)."""
        try:
            await self._call(channel, "HEAD", f"{CHANNELS_PATH}/{channel.id}")
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        return True

    async def connect(self, channel: Channel) -> ChannelSocket:
        """Open the channel's socket at its connectUri, exactly as given."""
        return ChannelSocket(await self._http.ws_connect(ENDPOINT, channel.connect_uri))

    async def _topics(
        self, channel: Channel, method: str, path: str, body: object = None
    ) -> list[str]:
        reply = await self._call(channel, method, path, body)
        try:
            answer = _SUBSCRIPTIONS.decode(reply.body)
        except (msgspec.ValidationError, msgspec.DecodeError) as err:
            raise BadResponseError(
                f"channel {channel.short}: the subscriptions answer is not {{entities: "
                f"[{{id}}]}} ({_place(err)})",
                endpoint=ENDPOINT,
                status=reply.status,
                context_id=reply.correlation_id,
            ) from None
        return [topic.id for topic in answer.entities]

    async def _call(self, channel: Channel, method: str, path: str, body: object = None) -> Reply:
        try:
            return await self._transport.call(
                method, ENDPOINT, path, body, permission=TOPIC_PERMISSION + " (assumed)"
            )
        except ApiError as err:
            raise _without_id(err, channel) from None


def _place(err: Exception) -> str:
    if isinstance(err, msgspec.ValidationError):
        message, sep, path = str(err).rpartition(" - at `$")
        return f"{path.rstrip('`').lstrip('.')}: {message}" if sep else str(err)
    if isinstance(err, msgspec.DecodeError):
        return "not JSON"
    return "expires: not an ISO 8601 time"


def _without_id(err: ApiError, channel: Channel) -> ApiError:
    """`err` with the channel's id cut short, should Genesys' message quote it."""
    if channel.id not in err.message:
        return err
    err.message = err.message.replace(channel.id, channel.short + "...")
    err.args = (err.describe(),)
    return err
