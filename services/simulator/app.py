"""The simulator's web app: every venue's websocket and REST on one port, plus /stats (frames
sent, Hyperliquid weight used), /control (scripted misbehaviour) and /control/traders (simulated
time of the Hyperliquid trader population) for demos and tests.

Websocket paths, as the venues name them (point venue_urls at them, see venue_urls() below):
  binance      /stream?streams=...            binance_spot /spot/stream?streams=...
  bybit        /v5/public/linear              bybit_spot   /v5/public/spot
  okx          /ws/v5/public, /ws/v5/business hyperliquid  /ws
  deribit      /ws/api/v2
Private sockets (the accounts of services/simulator/<venue>_account.py):
  binance_private  /private/ws?listenKey=...   bybit_private /v5/private
  okx_private      /ws/v5/private              deribit_private /ws/api/v2 (public/auth)
  hyperliquid_private /ws (userFills, userEvents of the account desk's addresses)
  lighter_private  /lighter/stream (account_all of the account desk's indexes)
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from services.simulator.account_desk import AccountDesk, add_account_desk
from services.simulator.binance import Binance
from services.simulator.binance_account import add_binance_account
from services.simulator.bybit import Bybit
from services.simulator.bybit_account import add_bybit_account
from services.simulator.deribit import Deribit
from services.simulator.deribit_account import add_deribit_account
from services.simulator.history import add_history
from services.simulator.hyperliquid import Hyperliquid
from services.simulator.hyperliquid_account import add_hyperliquid_account
from services.simulator.hyperliquid_info import INFO_DESK, InfoDesk
from services.simulator.lighter_account import add_lighter_account
from services.simulator.okx import Okx
from services.simulator.okx_account import add_okx_account
from services.simulator.population import Population
from services.simulator.prebuilt import ID_TIME_KEYS, PrebuiltTrades
from services.simulator.rest_venues import add_rest_venues
from services.simulator.venue import MODES, TICK_S, Venue, VenueState, close_all, serve
from shared.config import Settings

log = logging.getLogger(__name__)
# venue -> (its protocol, the paths it serves)
VENUES: dict[str, tuple[Venue, tuple[str, ...]]] = {
    "binance": (Binance("binance"), ("/stream",)),
    "binance_spot": (Binance("binance_spot"), ("/spot/stream",)),
    "bybit": (Bybit("bybit"), ("/v5/public/linear",)),
    "bybit_spot": (Bybit("bybit_spot"), ("/v5/public/spot",)),
    "okx": (Okx(), ("/ws/v5/public", "/ws/v5/business")),
    "hyperliquid": (Hyperliquid(), ("/ws",)),
    "deribit": (Deribit(), ("/ws/api/v2",)),
}


class SimState:
    """Every venue's state; `mode` is the last mode set for all venues at once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.venues = {name: VenueState(name, settings) for name in VENUES}
        self.mode = "normal"


STATE = web.AppKey("state", SimState)
PATHS = web.AppKey("paths", Counter[str])  # requests per path, answered or not (GET /stats "paths")


@web.middleware
async def count_paths(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Every request counted by its path, a 404 too: a test can prove a path was never asked."""
    request.app[PATHS][request.path] += 1
    return await handler(request)


def venue_urls(base: str) -> dict[str, str]:
    """venue_urls setting for a simulator at base (ws://127.0.0.1:8765): every feed's url."""
    base = base.rstrip("/")
    return {"binance": base, "binance_spot": f"{base}/spot", "bybit": f"{base}/v5/public/linear",
            "bybit_spot": f"{base}/v5/public/spot", "okx": f"{base}/ws/v5/public",
            "okx_business": f"{base}/ws/v5/business", "hyperliquid": f"{base}/ws",
            "deribit": f"{base}/ws/api/v2", "binance_private": f"{base}/private/ws",
            "bybit_private": f"{base}/v5/private", "okx_private": f"{base}/ws/v5/private",
            "deribit_private": f"{base}/ws/api/v2", "hyperliquid_private": f"{base}/ws",
            "lighter_private": f"{base}/lighter/stream"}


def _handler(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    venue = VENUES[name][0]

    async def handle(request: web.Request) -> web.StreamResponse:
        return await serve(request, request.app[STATE].venues[name], venue)

    return handle


async def stats(request: web.Request) -> web.Response:
    """total: trades made by every venue (each sent to every socket subscribed when it was made, and
    kept in the venue's REST history); sent: Binance futures trades sent per symbol; venues: the
    details (made, trades sent, frames, ...);
    hyperliquid: the info endpoint's weight per client (this rolling minute, the highest minute seen)
    and the trader population's counters (null until something asked for a trader)."""
    state = request.app[STATE]
    venues = {name: venue.stats() for name, venue in state.venues.items()}
    paths = request.app[PATHS]
    body: dict[str, Any] = {
        "sent": venues["binance"]["trades_by_symbol"], "total": sum(v["made"] for v in venues.values()),
        "connections": sum(v["connections"] for v in venues.values()), "mode": state.mode, "venues": venues,
        "hyperliquid": request.app[INFO_DESK].stats(), "paths": dict(paths),
    }
    return web.json_response(body)


async def control_traders(request: web.Request) -> web.Response:
    """POST /control/traders?advance=SECONDS: live through that much simulated time at once."""
    raw = request.query.get("advance", "0")
    try:
        seconds = float(raw)
        if seconds < 0:
            raise ValueError("time only moves on")
    except ValueError as exc:
        return web.json_response({"error": f"advance must be seconds >= 0, got {raw!r}: {exc}"}, status=400)
    desk = request.app[INFO_DESK]
    desk.population.advance(seconds)
    return web.json_response({"now_ms": desk.clock.ms(), "population": desk.population.stats()})


def _pace(request: web.Request, targets: list[VenueState]) -> web.Response | None:
    """rate=R: trade frames/s per subscription from now on; prebuilt=1|0: trade frames from templates
    (services/simulator/prebuilt.py) on the venues that support it, or the venue's own again. None
    when both are absent or applied; a 400 answer when one is wrong."""
    raw_rate, raw_prebuilt = request.query.get("rate"), request.query.get("prebuilt")
    try:
        rate = None if raw_rate is None else float(raw_rate)
        if rate is not None and not 0 < rate < float("inf"):
            raise ValueError("a rate is a positive number")
    except ValueError as exc:
        return web.json_response({"error": f"rate must be frames/s > 0, got {raw_rate!r}: {exc}"}, status=400)
    if raw_prebuilt not in (None, "0", "1"):
        return web.json_response({"error": f"prebuilt must be 0 or 1, got {raw_prebuilt!r}"}, status=400)
    if raw_prebuilt == "1" and len(targets) == 1 and targets[0].name not in ID_TIME_KEYS:
        return web.json_response({"error": f"no prebuilt frames for {targets[0].name}",
                                  "venues": sorted(ID_TIME_KEYS)}, status=400)
    for target in targets:
        if rate is not None:
            target.set_rate(rate)
        if raw_prebuilt == "0":
            target.prebuilt = None
        elif raw_prebuilt == "1" and target.name in ID_TIME_KEYS:
            target.prebuilt = PrebuiltTrades(VENUES[target.name][0], target)
    return None


async def control(request: web.Request) -> web.Response:
    """POST /control?mode=M&venue=V&max_frames=N&rate=R&prebuilt=0|1, M one of MODES
    (services/simulator/venue.py)

    Without venue the mode applies to every venue; max_frames caps trades per symbol (0 = no cap);
    rate and prebuilt: see _pace."""
    state = request.app[STATE]
    venue = request.query.get("venue")
    if venue is not None and venue not in state.venues:
        body = {"error": f"unknown venue {venue!r}", "venues": sorted(state.venues)}
        return web.json_response(body, status=400)
    mode = request.query.get("mode")
    if mode is not None and mode not in MODES:
        return web.json_response({"error": f"unknown mode {mode!r}", "modes": list(MODES)}, status=400)
    raw_max = request.query.get("max_frames")
    if raw_max is not None and not raw_max.isdigit():
        return web.json_response({"error": f"max_frames must be a whole number, got {raw_max!r}"}, status=400)
    targets = [state.venues[venue]] if venue else list(state.venues.values())
    refused = _pace(request, targets)
    if refused is not None:
        return refused
    for target in targets:
        if mode is not None:
            target.mode = mode
        if raw_max is not None:
            target.max_frames = int(raw_max) or None
    if mode is not None and venue is None:
        state.mode = mode
    return web.json_response({"mode": state.mode, "venues": {t.name: t.mode for t in targets},
                              "max_frames": targets[0].max_frames, "rate": targets[0].rate,
                              "prebuilt": sorted(t.name for t in targets if t.prebuilt)})


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the market stopped trading", exc_info=task.exception())


async def _trading(app: web.Application) -> AsyncIterator[None]:
    """The market keeps trading with nobody connected: the makers nobody reads advance each tick."""
    venues = [(state, VENUES[name][0]) for name, state in app[STATE].venues.items()]

    async def trade() -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            for state, venue in venues:
                state.advance(venue, now, unread=True)

    task = asyncio.create_task(trade())
    task.add_done_callback(_report)
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_sockets(app: web.Application) -> None:
    """Clients see the simulator go away at once, instead of waiting for their keepalive to fail."""
    for venue in app[STATE].venues.values():
        await close_all(venue)


def create_app(settings: Settings, traders: Population | None = None,
               accounts: AccountDesk | None = None) -> web.Application:
    """The simulator; `traders` replaces the Hyperliquid population built from settings, `accounts`
    the scripted accounts (a test's own, on a clock it drives)."""
    app = web.Application(middlewares=[count_paths])
    app[PATHS] = Counter()
    desk = app[INFO_DESK] = InfoDesk(settings, traders)
    app[STATE] = SimState(settings)
    app[STATE].venues["hyperliquid"].population = lambda: desk.population
    for name, (_, paths) in VENUES.items():
        for path in paths:
            app.router.add_get(path, _handler(name))
    app.router.add_get("/stats", stats)
    app.router.add_post("/control", control)
    app.router.add_post("/control/traders", control_traders)
    app.on_shutdown.append(_close_sockets)
    app.cleanup_ctx.append(_trading)
    add_rest_venues(app, settings)  # REST of all eleven venues under /<venue>/, /control/rest, /stats/rest
    add_history(app, {name: venue.history for name, venue in app[STATE].venues.items()})  # trades by id
    add_account_desk(app, accounts)  # the private side: /control/accounts, /stats/accounts
    # each venue's private REST and sockets (services/simulator/<venue>_account.py)
    add_binance_account(app)  # signed /binance REST, listenKeys, /private/ws
    add_bybit_account(app)
    add_okx_account(app)
    add_deribit_account(app)
    add_hyperliquid_account(app)
    add_lighter_account(app)  # /lighter/api/v1/account, /lighter/stream, /control/lighter
    return app
