"""The websocket client of the tests that talk to a simulated venue by hand: aiohttp's, as the
receivers use, with the three calls those tests need (send a text frame, receive one, read until
the socket closes)."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import WSMsgType


class Closed(Exception):
    """The socket closed (the venue closed it, or it broke)."""


class Socket:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, message: str | bytes) -> None:
        """A text frame, str or bytes: every venue here speaks JSON text."""
        await self.ws.send_frame(message.encode() if isinstance(message, str) else message, WSMsgType.TEXT)

    async def recv(self) -> str | bytes:
        """The next frame: text as str, binary as bytes; Closed once the socket closed."""
        kind, data, _ = await self.ws.receive()
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            return data  # type: ignore[no-any-return]
        raise Closed(f"{kind.name} {self.ws.close_code} {self.ws.exception()!r}")

    def __aiter__(self) -> Socket:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.recv()
        except Closed:
            raise StopAsyncIteration from None


@contextlib.asynccontextmanager
async def connect(url: str) -> AsyncIterator[Socket]:
    """A socket of its own client session, both closed on leaving."""
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        yield Socket(ws)
