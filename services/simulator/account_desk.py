"""The simulated venues' private side, shared by each venue's account part (binance_account.py,
bybit_account.py, ...): the keys each venue knows (a venue verifies signatures with the secret it
holds), the scripted accounts (accounts.py) stepped at a steady pace, the open private sockets,
and the scripted misbehaviour.

  POST /control/accounts  {"venue": V, "key": K, "secret": S, "passphrase": P}: the venue knows this key
  POST /control/accounts?venue=V&mode=M   M one of MODES:
      normal      every key that the venue knows is accepted
      auth_fail   every login and signed call of the venue is refused, with the venue's own error
      expire      (Binance) every listenKey expires now: listenKeyExpired, then -1125 on keepalive
      cut         every private socket of the venue is closed now (the mode stays normal)
  POST /control/accounts?venue=V&liquidate=COIN&key=K   the venue liquidates that position
  GET  /stats/accounts: per venue and key, the orders and fills made and the sockets open

DEMO_KEYS are the keys `make demo` stores in its vault; they open only the simulator.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from services.simulator.accounts import AccountBook, SimAccount
from services.simulator.clock import SimClock

MODES = ("normal", "auth_fail", "expire", "cut")
STEP_S = 1.0  # every account moves one step this often
# venue -> (key, secret, passphrase): the demo's accounts, known to the simulator from the start
DEMO_KEYS: dict[str, tuple[str, str, str]] = {
    "binance": ("demo-binance-key-0001", "demo-binance-secret-0001", ""),
    "bybit": ("demo-bybit-key-0001", "demo-bybit-secret-0001", ""),
    "okx": ("demo-okx-key-0001", "demo-okx-secret-0001", "demo-okx-passphrase"),
    "deribit": ("demo-deribit-client-0001", "demo-deribit-secret-0001", ""),
}
DEMO_ADDRESS = "0x" + "d" * 40  # the demo's Hyperliquid account (read by address)


@dataclass(frozen=True)
class Known:
    secret: str
    passphrase: str = ""


@dataclass
class AccountDesk:
    """What every simulated venue's private side shares."""

    book: AccountBook
    keys: dict[tuple[str, str], Known] = field(default_factory=dict)  # (venue, key) -> what it holds
    modes: dict[str, str] = field(default_factory=dict)  # venue -> mode (normal when absent)
    # (venue, key) -> closers of the open private sockets (a venue part registers each socket)
    sockets: dict[tuple[str, str], set[Callable[[], Any]]] = field(default_factory=dict)
    expiries: dict[str, int] = field(default_factory=dict)  # venue -> times `expire` was set
    driving: bool = True  # False: a test steps the book itself (book.step_all())

    def know(self, venue: str, key: str, secret: str, passphrase: str = "") -> SimAccount:
        self.keys[(venue, key)] = Known(secret, passphrase)
        return self.book.account(venue, key)

    def known(self, venue: str, key: str) -> Known | None:
        """What the venue holds for `key`; None when it does not know it, or refuses all (auth_fail)."""
        if self.modes.get(venue) == "auth_fail":
            return None
        return self.keys.get((venue, key))

    def mode(self, venue: str) -> str:
        return self.modes.get(venue, "normal")

    def opened(self, venue: str, key: str, close: Callable[[], Any]) -> None:
        self.sockets.setdefault((venue, key), set()).add(close)

    def closed(self, venue: str, key: str, close: Callable[[], Any]) -> None:
        self.sockets.get((venue, key), set()).discard(close)

    async def cut(self, venue: str) -> int:
        """Close every private socket of the venue; returns how many."""
        closers = [c for (v, _), found in self.sockets.items() if v == venue for c in list(found)]
        for close in closers:
            result = close()
            if asyncio.iscoroutine(result):
                await result
        return len(closers)

    def stats(self) -> dict[str, Any]:
        return {f"{venue}:{key}": {"orders": len(account.orders), "fills": len(account.fills),
                                   "sockets": len(self.sockets.get((venue, key), ()))}
                for (venue, key), account in self.book.accounts.items()}


ACCOUNT_DESK = web.AppKey("account_desk", AccountDesk)


def make_desk(clock: SimClock | None = None, seed: int = 1) -> AccountDesk:
    desk = AccountDesk(AccountBook(clock or SimClock(), seed))
    for venue, (key, secret, passphrase) in DEMO_KEYS.items():
        desk.know(venue, key, secret, passphrase)
    desk.book.account("hyperliquid", DEMO_ADDRESS)
    return desk


async def control_accounts(request: web.Request) -> web.Response:
    desk = request.app[ACCOUNT_DESK]
    if request.can_read_body:
        try:
            body = await request.json()
            venue, key, secret = str(body["venue"]), str(body["key"]), str(body.get("secret", ""))
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": f"expected {{venue, key, secret[, passphrase]}}: {exc!r}"},
                                     status=400)
        desk.know(venue, key, secret, str(body.get("passphrase", "")))
        return web.json_response({"venue": venue, "known": True})
    venue = request.query.get("venue", "")
    mode = request.query.get("mode")
    if mode is not None and mode not in MODES:
        return web.json_response({"error": f"unknown mode {mode!r}", "modes": list(MODES)}, status=400)
    answer: dict[str, Any] = {"venue": venue}
    if mode == "cut":
        answer["cut"] = await desk.cut(venue)
    elif mode is not None:
        desk.modes[venue] = mode
        if mode == "expire":
            desk.expiries[venue] = desk.expiries.get(venue, 0) + 1
    coin = request.query.get("liquidate")
    if coin:
        account = desk.book.accounts.get((venue, request.query.get("key", "")))
        if account is None:
            return web.json_response({"error": "unknown account"}, status=404)
        answer["changes"] = len(account.liquidate(coin, desk.book.clock.ms()))
    answer["mode"] = desk.mode(venue)
    return web.json_response(answer)


async def account_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[ACCOUNT_DESK].stats())


async def _drive(app: web.Application) -> Any:
    """Step every account every STEP_S (simulated pace: the book's clock) while the app runs."""
    desk = app[ACCOUNT_DESK]

    async def drive() -> None:
        while True:
            await asyncio.sleep(STEP_S)
            if desk.driving:
                desk.book.step_all()

    task = asyncio.create_task(drive())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def add_account_desk(app: web.Application, desk: AccountDesk | None = None) -> AccountDesk:
    """The desk on the app (a test's own, on a clock it drives), its control routes and its driver.
    Each venue's account part adds its own routes and reads the desk from app[ACCOUNT_DESK]."""
    found = app[ACCOUNT_DESK] = desk or make_desk()
    app.router.add_post("/control/accounts", control_accounts)
    app.router.add_get("/stats/accounts", account_stats)
    app.cleanup_ctx.append(_drive)
    return found
