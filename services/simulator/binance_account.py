"""Simulated Binance USD-M private side: signed REST under /binance (the prefix of the venue's REST
client, rest_venues.py), the listenKey lifecycle, and the user data stream on /private/ws, all
answering from the account desk's books (account_desk.py, accounts.py).

  POST|PUT|DELETE /binance/fapi/v1/listenKey      the API key alone (USER_STREAM)
  GET /binance/fapi/v1/openOrders, /fapi/v3/account, /fapi/v3/positionRisk, /fapi/v1/userTrades,
      /fapi/v1/income, /fapi/v1/forceOrders       SIGNED: HMAC-SHA256 of the query, recvWindow
  GET /private/ws?listenKey=K&events=E1/E2        ORDER_TRADE_UPDATE, ACCOUNT_UPDATE, listenKeyExpired

A listenKey lives 60 minutes on the desk's clock; PUT extends it; `expire` on the desk ends every
key at once (the socket hears listenKeyExpired if its events name it, PUT answers -1125). The
recvWindow is checked against the wall clock: it is the client's clock that signs.
Wire formats: https://developers.binance.com/docs/derivatives/usds-margined-futures (General Info,
Error Codes, user-data-streams, trade/account REST pages).
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import msgspec
from aiohttp import WSCloseCode, web

from services.simulator import binance_account_wire as wire
from services.simulator.account_desk import ACCOUNT_DESK, AccountDesk
from services.simulator.accounts import SimAccount

VENUE = "binance"
PREFIX = "/binance"
LISTEN_KEY_MS = 3_600_000  # "valid for 60 minutes after creation"; a PUT gives another 60
DEFAULT_RECV_WINDOW_MS = 5000
PUSH_POLL_S = 0.05  # how often a socket looks whether its key still lives
# Error-Codes page; HTTP statuses as Binance answers them (a refused key is 401, the rest 400)
NO_KEY = (401, -2014, "API-key format invalid.")
BAD_KEY = (401, -2015, "Invalid API-key, IP, or permissions for action.")
BAD_SIGNATURE = (400, -1022, "Signature for this request is not valid.")
BAD_TIMESTAMP = (400, -1021, "Timestamp for this request is outside of the recvWindow.")
NO_LISTEN_KEY = (400, -1125, "This listenKey does not exist.")
_json = msgspec.json.Encoder()


class Refused(Exception):
    """A call Binance refuses: its HTTP status and {"code", "msg"}."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def missing(name: str) -> Refused:
    return Refused(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


@dataclass
class ListenKey:
    key: str
    api_key: str
    expires_ms: int
    generation: int  # the desk's `expire` count at creation: a later `expire` ends it


class ListenKeys:
    """Every listenKey of the simulated venue: one live key per API key, as Binance keeps it."""

    def __init__(self, desk: AccountDesk) -> None:
        self.desk = desk
        self.keys: dict[str, ListenKey] = {}

    def alive(self, found: ListenKey) -> bool:
        return (self.keys.get(found.key) is found and self.desk.book.clock.ms() < found.expires_ms
                and found.generation == self.desk.expiries.get(VENUE, 0))

    def active(self, api_key: str) -> ListenKey | None:
        return next((k for k in self.keys.values() if k.api_key == api_key and self.alive(k)), None)

    def find(self, key: str) -> ListenKey | None:
        found = self.keys.get(key)
        return found if found is not None and self.alive(found) else None

    def start(self, api_key: str) -> ListenKey:
        """POST: the active key extended, or a new one (64 characters, like Binance's)."""
        found = self.active(api_key)
        if found is None:
            self.keys = {k: v for k, v in self.keys.items() if v.api_key != api_key}
            found = ListenKey(secrets.token_hex(32), api_key, 0, self.desk.expiries.get(VENUE, 0))
            self.keys[found.key] = found
        found.expires_ms = self.desk.book.clock.ms() + LISTEN_KEY_MS
        return found

    def keepalive(self, api_key: str) -> ListenKey:
        found = self.active(api_key)
        if found is None:
            raise Refused(*NO_LISTEN_KEY)
        found.expires_ms = self.desk.book.clock.ms() + LISTEN_KEY_MS
        return found

    def close(self, api_key: str) -> None:
        self.keys = {k: v for k, v in self.keys.items() if v.api_key != api_key}


LISTEN_KEYS = web.AppKey("binance_listen_keys", ListenKeys)


# --- who is asking: the key, and for signed calls the signature and the time window ---


def api_key_of(request: web.Request) -> str:
    key = request.headers.get("X-MBX-APIKEY", "")
    if not key:
        raise Refused(*NO_KEY)
    if request.app[ACCOUNT_DESK].known(VENUE, key) is None:  # unknown, or the desk's auth_fail
        raise Refused(*BAD_KEY)
    return key


def number(params: dict[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None and default is not None:
        return default
    if raw is None or not raw.isdigit() or len(raw) > 20:
        raise missing(name)
    return int(raw)


def verified(request: web.Request) -> tuple[SimAccount, dict[str, str]]:
    """SIGNED: timestamp within recvWindow (timestamp < now + 1000 and now - timestamp <= recvWindow),
    then the HMAC-SHA256 of the total params without the signature (case-insensitive hex)."""
    key = api_key_of(request)
    desk = request.app[ACCOUNT_DESK]
    pairs = [pair for pair in request.rel_url.raw_query_string.split("&") if pair]
    given = next((p.partition("=")[2] for p in pairs if p.startswith("signature=")), "")
    params = dict(request.query)
    if not given:
        raise missing("signature")
    timestamp, window = number(params, "timestamp"), number(params, "recvWindow", DEFAULT_RECV_WINDOW_MS)
    now = time.time_ns() // 1_000_000
    if not (timestamp < now + 1000 and now - timestamp <= window):
        raise Refused(*BAD_TIMESTAMP)
    payload = "&".join(p for p in pairs if not p.startswith("signature="))
    known = desk.known(VENUE, key)
    secret = known.secret if known is not None else ""
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.lower(), expected):
        raise Refused(*BAD_SIGNATURE)
    return desk.book.account(VENUE, key), params


Handler = Callable[[web.Request], Awaitable[Any]]


def answering(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """JSON of what the handler returns, or Binance's error answer."""
    async def respond(request: web.Request) -> web.Response:
        try:
            body = await handler(request)
        except Refused as refused:
            error = _json.encode({"code": refused.code, "msg": refused.msg})
            return web.Response(body=error, status=refused.status, content_type="application/json")
        return web.Response(body=_json.encode(body), content_type="application/json")

    return respond


# --- the endpoints ---


async def start_listen_key(request: web.Request) -> Any:
    return {"listenKey": request.app[LISTEN_KEYS].start(api_key_of(request)).key}


async def keepalive_listen_key(request: web.Request) -> Any:
    return {"listenKey": request.app[LISTEN_KEYS].keepalive(api_key_of(request)).key}


async def close_listen_key(request: web.Request) -> Any:
    request.app[LISTEN_KEYS].close(api_key_of(request))
    return {}


def window(params: dict[str, str]) -> tuple[int, int]:
    return number(params, "startTime", 0), number(params, "endTime", 2**62)


async def open_orders(request: web.Request) -> Any:
    account, params = verified(request)
    coin = wire.coin_of(params.get("symbol", ""))
    return [wire.open_order(o) for o in account.open_orders() if not coin or o.coin == coin]


async def account_info(request: web.Request) -> Any:
    account, _ = verified(request)
    return wire.account_info(account, request.app[ACCOUNT_DESK].book.clock.ms())


async def position_risk(request: web.Request) -> Any:
    account, params = verified(request)
    coin = wire.coin_of(params.get("symbol", ""))
    now = request.app[ACCOUNT_DESK].book.clock.ms()
    return [wire.position_risk(p, now) for p in account.positions.values() if p.size and coin in ("", p.coin)]


async def user_trades(request: web.Request) -> Any:
    account, params = verified(request)
    if not params.get("symbol"):
        raise missing("symbol")
    coin, (start, end) = wire.coin_of(params["symbol"]), window(params)
    fills = [f for f in account.fills if f.coin == coin and start <= f.ts_ms <= end]
    return [wire.user_trade(f) for f in fills[: min(number(params, "limit", 500), 1000)]]


async def income(request: web.Request) -> Any:
    account, params = verified(request)
    (start, end), kind = window(params), params.get("incomeType", "")
    rows = [row for f in account.fills if start <= f.ts_ms <= end for row in wire.incomes(f)]
    rows = [row for row in rows if kind in ("", row["incomeType"])]
    return rows[: min(number(params, "limit", 100), 1000)]


async def force_orders(request: web.Request) -> Any:
    account, params = verified(request)
    (start, end), kind = window(params), params.get("autoCloseType", "").lower()
    forced = [o for o in account.orders.values() if o.closing and start <= o.updated_ms <= end
              and kind in ("", o.closing)]
    return [wire.force_order(o) for o in forced[: min(number(params, "limit", 50), 100)]]


ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/fapi/v1/listenKey", start_listen_key), ("PUT", "/fapi/v1/listenKey", keepalive_listen_key),
    ("DELETE", "/fapi/v1/listenKey", close_listen_key), ("GET", "/fapi/v1/openOrders", open_orders),
    ("GET", "/fapi/v3/account", account_info), ("GET", "/fapi/v3/positionRisk", position_risk),
    ("GET", "/fapi/v1/userTrades", user_trades), ("GET", "/fapi/v1/income", income),
    ("GET", "/fapi/v1/forceOrders", force_orders),
]


# --- the user data stream ---


async def push(ws: web.WebSocketResponse, stream: wire.Stream, keys: ListenKeys, key: ListenKey) -> None:
    """The account's changes as they come, until the key dies: then listenKeyExpired, and silence."""
    while not ws.closed:
        if not keys.alive(key):
            stream.stopped = True
            if stream.wants("listenKeyExpired"):
                await ws.send_bytes(_json.encode(wire.listen_key_expired(key.key, keys.desk.book.clock.ms())))
            return
        with contextlib.suppress(TimeoutError):
            frame = await asyncio.wait_for(stream.queue.get(), PUSH_POLL_S)
            await ws.send_str(frame.decode())


async def private_socket(request: web.Request) -> web.StreamResponse:
    keys, desk = request.app[LISTEN_KEYS], request.app[ACCOUNT_DESK]
    key = keys.find(request.query.get("listenKey", ""))
    if key is None:
        status, code, msg = NO_LISTEN_KEY
        return web.json_response({"code": code, "msg": msg}, status=status)
    events = {e for e in request.query.get("events", "").split("/") if e}
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    stream = wire.Stream(events or None)
    account = desk.book.account(VENUE, key.api_key)
    account.listeners.append(stream.hear)
    close = partial(ws.close, code=WSCloseCode.GOING_AWAY, message=b"cut")
    desk.opened(VENUE, key.api_key, close)
    pusher = asyncio.create_task(push(ws, stream, keys, key))
    try:
        async for _ in ws:
            pass  # the stream takes no requests
    finally:  # forget the socket before any await: a handler may be cancelled again while it waits
        with contextlib.suppress(ValueError):
            account.listeners.remove(stream.hear)
        desk.closed(VENUE, key.api_key, close)
        pusher.cancel()
        await asyncio.gather(pusher, return_exceptions=True)
    return ws


async def _close_sockets(app: web.Application) -> None:
    await app[ACCOUNT_DESK].cut(VENUE)


def add_binance_account(app: web.Application) -> None:
    """Binance's signed REST and user data stream on the app (after add_account_desk)."""
    app[LISTEN_KEYS] = ListenKeys(app[ACCOUNT_DESK])
    for method, path, handler in ROUTES:
        app.router.add_route(method, PREFIX + path, answering(handler))
    app.router.add_get("/private/ws", private_socket)
    app.on_shutdown.append(_close_sockets)
