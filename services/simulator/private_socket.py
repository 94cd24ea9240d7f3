"""What every simulated venue's private socket shares (bybit_account.py, okx_account.py, ...): frames
sent in order through one writer, the account's changes heard once the venue's auth passed, and
the desk's registry of open sockets, so /control/accounts?mode=cut closes them.

A venue part supplies its session: what a client's text frame asks (its `receive`), and how one of
the account's changes reads on its wire (`render`, [] for what the socket did not subscribe to).
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable

from aiohttp import WSMsgType, web

from services.simulator.account_desk import ACCOUNT_DESK, AccountDesk
from services.simulator.accounts import Change, SimAccount

_numbers = itertools.count(1)


class PrivateSocket:
    """One client's private socket on one venue."""

    def __init__(self, ws: web.WebSocketResponse, desk: AccountDesk, venue: str) -> None:
        self.ws = ws
        self.desk = desk
        self.venue = venue
        self.conn_id = f"sim-{venue}-{next(_numbers)}"
        self.key = ""
        self.account: SimAccount | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write())
        self._listener: Callable[[Change], None] | None = None

    def send(self, text: str) -> None:
        self._outbox.put_nowait(text)

    def attach(self, key: str, render: Callable[[Change], list[str]]) -> SimAccount:
        """After a passed auth: the account's changes reach this socket as `render` writes them."""
        self.key = key
        self.account = self.desk.book.account(self.venue, key)

        def hear(change: Change) -> None:
            for text in render(change):
                self.send(text)

        self._listener = hear
        self.account.listeners.append(hear)
        self.desk.opened(self.venue, key, self.close)
        return self.account

    async def close(self) -> None:
        """Close the socket now (the desk's `cut`)."""
        await self.ws.close()

    async def _write(self) -> None:
        while True:
            text = await self._outbox.get()
            if self.ws.closed:
                return
            await self.ws.send_str(text)

    async def finish(self) -> None:
        if self.account is not None and self._listener is not None:
            with contextlib.suppress(ValueError):
                self.account.listeners.remove(self._listener)
            self.desk.closed(self.venue, self.key, self.close)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


async def serve_private(request: web.Request, venue: str,
                        session: Callable[[PrivateSocket], Callable[[str], None]]) -> web.WebSocketResponse:
    """Run one private socket: session(socket) is the venue's reading of the client's text frames,
    each handed to it until the client or the desk closes the socket."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    socket = PrivateSocket(ws, request.app[ACCOUNT_DESK], venue)
    receive = session(socket)
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                receive(message.data)
    finally:
        await socket.finish()
    return ws
