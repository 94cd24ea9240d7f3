"""The simulated venues' REST endpoints (funding, spot, open interest) for all eleven venues, each
under /<venue>/ so same-shaped APIs (Binance and Aster both serve /fapi/v1/premiumIndex) share one
port: point venue_urls["<venue>_rest"] at http://host:port/<venue>.

Scripted misbehaviour for demos and tests:
  POST /control/rest?venue=okx&mode=429|500|hang|normal&count=N&retry_after=S&hang_s=S
    429: Too Many Requests with Retry-After S; 500: a server error; hang: no answer for hang_s
    seconds (the client times out first); count: how many requests misbehave (0 = until reset).
  GET /stats/rest: requests served per venue, and the scripted faults.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from services.simulator import hyperliquid_info, pools
from services.simulator import rest_answers as answers
from shared.config import Settings

Answer = Callable[[web.Request, "RestSim"], Awaitable[Any]]
MODES = ("normal", "429", "500", "hang")
_json = msgspec.json.Encoder()


class Fault(msgspec.Struct):
    mode: str
    remaining: int  # 0 = every request until reset
    retry_after: float = 1.0
    hang_s: float = 30.0


class RestSim:
    """The simulated market, request counters and scripted faults per venue."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.market = answers.Market(settings)
        self.requests: Counter[str] = Counter()
        self.faults: dict[str, Fault] = {}
        self.released = asyncio.Event()  # set at shutdown: hanging answers give up

    def take_fault(self, venue: str) -> Fault | None:
        fault = self.faults.get(venue)
        if fault is None:
            return None
        if fault.remaining:
            fault.remaining -= 1
            if fault.remaining == 0:
                del self.faults[venue]
        return fault


REST_SIM = web.AppKey("rest_sim", RestSim)


def _venue(name: str, answer: Answer) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Count the request, play a scripted fault if one is set, else answer like the venue."""

    async def handler(request: web.Request) -> web.StreamResponse:
        sim = request.app[REST_SIM]
        sim.requests[name] += 1
        fault = sim.take_fault(name)
        if fault is not None and fault.mode == "429":
            return web.json_response(
                {"code": -1003, "msg": "Too many requests."},
                status=429,
                headers={"Retry-After": f"{fault.retry_after:g}"},
            )
        if fault is not None and fault.mode == "500":
            return web.json_response({"code": -1001, "msg": "Internal error."}, status=500)
        if fault is not None and fault.mode == "hang":
            try:
                await asyncio.wait_for(sim.released.wait(), fault.hang_s)
            except TimeoutError:
                pass
        return web.Response(body=_json.encode(await answer(request, sim)), content_type="application/json")

    return handler


async def _binance_premium(request: web.Request, sim: RestSim) -> Any:
    venue = request.match_info["venue"]
    symbol = request.query.get("symbol")
    items = answers.binance_premium_index(
        sim.market, venue, [symbol] if symbol else [f"{a}USDT" for a in sim.market.assets]
    )
    return items[0] if symbol else items


async def _binance_funding_info(request: web.Request, sim: RestSim) -> Any:
    return [
        {
            "symbol": "ETHUSDT",
            "adjustedFundingRateCap": "0.02000000",
            "adjustedFundingRateFloor": "-0.02000000",
            "fundingIntervalHours": 4,
            "disclaimer": False,
        }
    ]


async def _binance_open_interest(request: web.Request, sim: RestSim) -> Any:
    symbol = request.query.get("symbol", "BTCUSDT")
    oi = sim.market.open_interest("binance", symbol.removesuffix("USDT"))
    return {"openInterest": str(oi), "symbol": symbol, "time": answers.now_ms()}


async def _binance_ticker_price(request: web.Request, sim: RestSim) -> Any:
    wanted = msgspec.json.decode(request.query.get("symbols", "[]"), type=list[str])
    symbols = wanted or [f"{a}USDT" for a in sim.market.assets]
    return [
        {"symbol": s, "price": str(sim.market.price("binance_spot", s.removesuffix("USDT")))} for s in symbols
    ]


async def _bybit_tickers(request: web.Request, sim: RestSim) -> Any:
    return answers.bybit_tickers(sim.market, request.query.get("category", "linear"))


async def _bybit_instruments(request: web.Request, sim: RestSim) -> Any:
    limit = request.query.get("limit", "500")
    return answers.bybit_instruments(sim.market, int(limit) if limit.isdigit() else 500,
                                     request.query.get("cursor", ""))


async def _okx_funding(request: web.Request, sim: RestSim) -> Any:
    return answers.okx_funding(sim.market, request.query.get("instId", "BTC-USDT-SWAP"))


async def _okx_open_interest(request: web.Request, sim: RestSim) -> Any:
    return answers.okx_open_interest(sim.market)


async def _okx_instruments(request: web.Request, sim: RestSim) -> Any:
    return answers.okx_instruments(sim.market)


async def _okx_tickers(request: web.Request, sim: RestSim) -> Any:
    return answers.okx_spot_tickers(sim.market)


async def _hyperliquid_info(request: web.Request, sim: RestSim) -> Any:
    """metaAndAssetCtxs, meta and the trader population's answers, weighed (hyperliquid_info.py)."""
    return await hyperliquid_info.info(request, request.app[hyperliquid_info.INFO_DESK])


async def _lighter_funding(request: web.Request, sim: RestSim) -> Any:
    return answers.lighter_funding_rates(sim.market)


async def _grvt_ticker(request: web.Request, sim: RestSim) -> Any:
    body = await request.json()
    return answers.grvt_ticker(sim.market, str(body.get("instrument", "BTC_USDT_Perp")))


async def _backpack_mark_prices(request: web.Request, sim: RestSim) -> Any:
    return answers.backpack_mark_prices(sim.market)


async def _backpack_markets(request: web.Request, sim: RestSim) -> Any:
    return answers.backpack_markets(sim.market)


async def _jupiter_price(request: web.Request, sim: RestSim) -> Any:
    ids = [i for i in request.query.get("ids", "").split(",") if i]
    return answers.jupiter_prices(sim.market, sim.settings.venues.jupiter.mints, ids)


async def _pyth_latest(request: web.Request, sim: RestSim) -> Any:
    return answers.pyth_latest(sim.market, sim.settings.venues.pyth.feeds, request.query.getall("ids[]", []))


async def control_rest(request: web.Request) -> web.Response:
    """POST /control/rest?venue=&mode=429|500|hang|normal&count=&retry_after=&hang_s="""
    sim = request.app[REST_SIM]
    venue, mode = request.query.get("venue", ""), request.query.get("mode", "normal")
    if mode not in MODES or not venue:
        return web.json_response({"error": f"need venue= and mode= one of {', '.join(MODES)}"}, status=400)
    if mode == "normal":
        sim.faults.pop(venue, None)
    else:
        try:
            sim.faults[venue] = Fault(
                mode,
                int(request.query.get("count", "0")),
                float(request.query.get("retry_after", "1")),
                float(request.query.get("hang_s", "30")),
            )
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"venue": venue, "mode": mode})


async def stats_rest(request: web.Request) -> web.Response:
    sim = request.app[REST_SIM]
    return web.json_response(
        {
            "requests": dict(sim.requests),
            "faults": {v: msgspec.structs.asdict(f) for v, f in sim.faults.items()},
        }
    )


async def _release_hanging(app: web.Application) -> None:
    app[REST_SIM].released.set()


ROUTES: list[tuple[str, str, str, Answer]] = [  # method, venue, path under /<venue>, answer
    ("GET", "binance", "/fapi/v1/premiumIndex", _binance_premium),
    ("GET", "binance", "/fapi/v1/fundingInfo", _binance_funding_info),
    ("GET", "binance", "/fapi/v1/openInterest", _binance_open_interest),
    ("GET", "binance_spot", "/api/v3/ticker/price", _binance_ticker_price),
    ("GET", "bybit", "/v5/market/tickers", _bybit_tickers),
    ("GET", "bybit", "/v5/market/instruments-info", _bybit_instruments),
    ("GET", "okx", "/api/v5/public/funding-rate", _okx_funding),
    ("GET", "okx", "/api/v5/public/open-interest", _okx_open_interest),
    ("GET", "okx", "/api/v5/market/tickers", _okx_tickers),
    ("GET", "okx", "/api/v5/public/instruments", _okx_instruments),
    ("POST", "hyperliquid", "/info", _hyperliquid_info),
    ("GET", "lighter", "/api/v1/funding-rates", _lighter_funding),
    ("GET", "aster", "/fapi/v1/premiumIndex", _binance_premium),
    ("GET", "aster", "/fapi/v1/fundingInfo", _binance_funding_info),
    ("POST", "grvt", "/full/v1/ticker", _grvt_ticker),
    ("GET", "backpack", "/api/v1/markPrices", _backpack_mark_prices),
    ("GET", "backpack", "/api/v1/markets", _backpack_markets),
    ("GET", "jupiter", "/price/v3", _jupiter_price),
    ("GET", "pyth", "/v2/updates/price/latest", _pyth_latest),
    ("GET", "jupiter", "/perps/v1/jlp-info", pools.answer_jlp_info),  # LP hedge monitors (pools.py)
    ("POST", "adrena", "/rpc", pools.answer_adrena_rpc),
]


def add_rest_venues(app: web.Application, settings: Settings) -> None:
    """Every venue's REST routes, /control/rest and /stats/rest."""
    app[REST_SIM] = RestSim(settings)
    if hyperliquid_info.INFO_DESK not in app:
        app[hyperliquid_info.INFO_DESK] = hyperliquid_info.InfoDesk(settings)
    for method, venue, path, answer in ROUTES:
        # {venue} in the path lets Binance and Aster share one premiumIndex answer, named per venue
        app.router.add_route(method, f"/{{venue:{venue}}}{path}", _venue(venue, answer))
    app.router.add_post("/control/rest", control_rest)
    app.router.add_get("/stats/rest", stats_rest)
    app.on_shutdown.append(_release_hanging)
