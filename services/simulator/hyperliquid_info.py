"""Simulated Hyperliquid info endpoint (POST /hyperliquid/info): metaAndAssetCtxs, meta and the
trader population's clearinghouseState, userFills, userFillsByTime and portfolio, in the documented
shapes (tests/fixtures/hyperliquid/), every request weighed and counted per client (info_weight.py).

Pages: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint and its
perpetuals page. The addresses of the account desk (the user's own accounts) are answered by the
app's OWN_ACCOUNTS (hyperliquid_account.py); the population never rests orders, so its openOrders is [].
An unknown type, a missing field or a malformed address get 422, as the venue's
"Failed to deserialize the JSON body into the target type"; too much weight in a minute gets 429.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

import msgspec
from aiohttp import web

from services.simulator import rest_answers as answers
from services.simulator.clock import SimClock
from services.simulator.info_weight import WeightMeter, base_weight, extra_weight
from services.simulator.population import Population
from services.simulator.trader import MAINTENANCE, MAX_LEVERAGE, USD, Trader, wire
from shared.config import Settings

FILLS_PER_PAGE = 2000  # userFillsByTime: "Returns at most 2000 fills per response"
FILLS_AVAILABLE = 10_000  # "... and only the 10000 most recent fills are available"
USER_FILLS = 2000  # userFills: "Returns at most 2000 most recent fills"
DAY_MS = 86_400_000
PERIODS = (("day", DAY_MS), ("week", 7 * DAY_MS), ("month", 30 * DAY_MS), ("allTime", None))
ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
ZERO = Decimal(0)
Answer = tuple[Any, int]  # the body, and how many items it returned (for the extra weight)


def build_population(settings: Settings, clock: SimClock | None = None, **pace: float) -> Population:
    """The population settings describe (simulator.traders traders, simulator.seed), trading the
    simulated perpetuals from where their REST prices start; `pace`: action_s / check_s (population.py)."""
    market = answers.Market(settings)
    prices = {a: market.start_price("hyperliquid", a) for a in market.assets}
    return Population(settings.simulator.seed, settings.simulator.traders, market.assets, prices,
                      clock=clock, **pace)


class InfoDesk:
    """What answers /hyperliquid/info: the market, the trader population (built on first use: 5,000
    traders cost ~50 ms, which most simulator apps never need) and the weight meter, on one clock."""

    def __init__(self, settings: Settings, population: Population | None = None) -> None:
        self.settings = settings
        self.market = answers.Market(settings)
        self._population = population
        self.clock = population.clock if population is not None else SimClock()
        self.meter = WeightMeter(self.clock.time)

    @property
    def population(self) -> Population:
        if self._population is None:
            self._population = build_population(self.settings, self.clock)
        return self._population

    def stats(self) -> dict[str, Any]:
        built = self._population.stats() if self._population is not None else None
        return {"weight": self.meter.stats(), "population": built}


INFO_DESK = web.AppKey("hyperliquid_info", InfoDesk)


class OwnAccounts(Protocol):
    def answer(self, kind: str, body: dict[str, Any]) -> tuple[Any, int] | None:
        """The answer for an address of the account desk; None for any other address."""


OWN_ACCOUNTS = web.AppKey("hyperliquid_own_accounts", OwnAccounts)


def client_of(request: web.Request) -> str:
    """Whose weight a request spends: the X-Client header if any, else the remote address."""
    return request.headers.get("X-Client") or request.remote or "unknown"


async def info(request: web.Request, desk: InfoDesk) -> Any:
    """Answer one info request, or raise 422 (not understood) / 429 (over the client's minute)."""
    try:
        body = msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        raise _unreadable() from None
    kind = body.get("type") if isinstance(body, dict) else None
    build = ANSWERS.get(kind) if isinstance(kind, str) else None
    if build is None or not isinstance(kind, str):
        raise _unreadable()
    own = request.app[OWN_ACCOUNTS].answer(kind, body) if OWN_ACCOUNTS in request.app else None
    payload, items = own if own is not None else build(desk, body)
    weight = base_weight(kind) + extra_weight(kind, items)
    client = client_of(request)
    if not desk.meter.spend(client, weight):
        used = desk.meter.used(client)
        raise web.HTTPTooManyRequests(text=f"{client}: {used} + {weight} weight over {desk.meter.limit}/min")
    return payload


def _unreadable() -> web.HTTPUnprocessableEntity:
    return web.HTTPUnprocessableEntity(text="Failed to deserialize the JSON body into the target type")


def _user(desk: InfoDesk, body: dict[str, Any]) -> Trader | None:
    user = body.get("user")
    if not isinstance(user, str) or not ADDRESS.fullmatch(user):
        raise _unreadable()
    return desk.population.find(user)


def _ms(body: dict[str, Any], key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if value is None and default is not None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise _unreadable()
    return value


def meta_and_asset_ctxs(desk: InfoDesk, body: dict[str, Any]) -> Answer:
    return answers.hyperliquid_meta_and_asset_ctxs(desk.market), 0


def meta(desk: InfoDesk, body: dict[str, Any]) -> Answer:
    return answers.hyperliquid_meta(desk.market), 0


def clearinghouse_state(desk: InfoDesk, body: dict[str, Any]) -> Answer:
    """{"assetPositions":[{"type":"oneWay","position":{coin, szi, entryPx, ...}}], "marginSummary",
    "crossMarginSummary", "crossMaintenanceMarginUsed", "withdrawable", "time"}"""
    trader = _user(desk, body)
    now = desk.clock.ms()
    if trader is None:  # the venue answers an address it never saw with an empty account
        empty = _summary(ZERO, ZERO, ZERO, ZERO)
        return {"assetPositions": [], "crossMaintenanceMarginUsed": "0.0", "crossMarginSummary": empty,
                "marginSummary": empty, "time": now, "withdrawable": "0.0"}, 0
    marks = desk.population.marks(trader, now)
    value = trader.account_value(marks)
    held, margin, notional, signed = [], ZERO, ZERO, ZERO
    cross_value, cross_margin, cross_notional, cross_signed = value, ZERO, ZERO, ZERO
    for coin in sorted(trader.positions):
        position, mark = trader.positions[coin], marks[coin]
        worth, pnl = abs(position.size) * mark, position.unrealized(mark)
        used = position.margin + pnl if trader.isolated else worth / position.leverage
        kind = "isolated" if trader.isolated else "cross"
        leverage: dict[str, Any] = {"type": kind, "value": position.leverage}
        if trader.isolated:
            leverage["rawUsd"] = _usd(position.margin - position.size * position.entry)
            cross_value -= used
        else:
            cross_margin, cross_notional = cross_margin + used, cross_notional + worth
            cross_signed += position.size * mark
        margin, notional, signed = margin + used, notional + worth, signed + position.size * mark
        held.append({"position": {
            "coin": coin, "cumFunding": {"allTime": "0.0", "sinceChange": "0.0", "sinceOpen": "0.0"},
            "entryPx": wire(position.entry), "leverage": leverage,
            "liquidationPx": wire(position.liquidation_price), "marginUsed": _usd(used),
            "maxLeverage": MAX_LEVERAGE, "positionValue": _usd(worth),
            "returnOnEquity": wire((pnl / position.margin).quantize(Decimal("0.0000001"))),
            "szi": wire(position.size), "unrealizedPnl": _usd(pnl)}, "type": "oneWay"})
    state = {
        "assetPositions": held,
        "crossMaintenanceMarginUsed": _usd(cross_notional * MAINTENANCE),
        "crossMarginSummary": _summary(cross_value, cross_margin, cross_notional, cross_value - cross_signed),
        "marginSummary": _summary(value, margin, notional, value - signed),
        "time": now,
        "withdrawable": _usd(max(ZERO, value - margin)),
    }
    return state, 0


def _usd(value: Decimal) -> str:
    return wire(value.quantize(USD))


def _summary(value: Decimal, margin: Decimal, notional: Decimal, raw: Decimal) -> dict[str, str]:
    return {"accountValue": _usd(value), "totalMarginUsed": _usd(margin), "totalNtlPos": _usd(notional),
            "totalRawUsd": _usd(raw)}


def user_fills_by_time(desk: InfoDesk, body: dict[str, Any]) -> Answer:
    """The fills from startTime to endTime (both inclusive; endTime defaults to now), oldest first,
    at most 2000, taken only from the 10000 most recent: page on with the last time as startTime."""
    trader = _user(desk, body)
    start, end = _ms(body, "startTime"), _ms(body, "endTime", desk.clock.ms())
    if trader is None:
        return [], 0
    times = trader.fill_times
    first = bisect_left(times, start, lo=max(0, len(times) - FILLS_AVAILABLE))
    last = min(bisect_right(times, end, lo=first), first + FILLS_PER_PAGE)
    return [msgspec.Raw(raw) for raw in trader.fill_bytes[first:last]], last - first


def user_fills(desk: InfoDesk, body: dict[str, Any]) -> Answer:
    """The 2000 most recent fills, newest first."""
    trader = _user(desk, body)
    if trader is None:
        return [], 0
    recent = [msgspec.Raw(raw) for raw in reversed(trader.fill_bytes[-USER_FILLS:])]
    return recent, len(recent)


def open_orders(desk: InfoDesk, body: dict[str, Any]) -> Answer:
    _user(desk, body)  # the address must be well formed
    return [], 0


def portfolio(desk: InfoDesk, body: dict[str, Any]) -> Answer:
    """[[period, {accountValueHistory: [[ms, "value"]], pnlHistory: [[ms, "pnl"]], vlm}]] for day, week,
    month, allTime and the same again as perp* (this population trades perpetuals only). A period's
    PnL counts from its first point; vlm is the volume traded within it."""
    trader = _user(desk, body)
    now = desk.clock.ms()
    if trader is None:
        points: list[tuple[int, Decimal, Decimal, Decimal]] = []
    else:
        value = trader.account_value(desk.population.marks(trader, now))
        points = [*trader.equity, (now, value, value - trader.deposits, trader.volume)]
    periods = [(name, _period(points, None if span is None else now - span)) for name, span in PERIODS]
    perp = [(f"perp{name[0].upper()}{name[1:]}", history) for name, history in periods]
    return [list(p) for p in periods + perp], 0


def _period(points: list[tuple[int, Decimal, Decimal, Decimal]], since: int | None) -> dict[str, Any]:
    inside = [p for p in points if since is None or p[0] >= since]
    if not inside:
        return {"accountValueHistory": [], "pnlHistory": [], "vlm": "0.0"}
    before = [p for p in points if since is not None and p[0] < since]
    volume_before = before[-1][3] if before else ZERO
    pnl_before = inside[0][2]
    return {
        "accountValueHistory": [[ms, _usd(value)] for ms, value, _, _ in inside],
        "pnlHistory": [[ms, _usd(pnl - pnl_before)] for ms, _, pnl, _ in inside],
        "vlm": _usd(inside[-1][3] - volume_before),
    }


ANSWERS: dict[str, Callable[[InfoDesk, dict[str, Any]], Answer]] = {
    "metaAndAssetCtxs": meta_and_asset_ctxs,
    "meta": meta,
    "clearinghouseState": clearinghouse_state,
    "userFillsByTime": user_fills_by_time,
    "userFills": user_fills,
    "portfolio": portfolio,
    "openOrders": open_orders,
}
