"""What the info endpoint answers about one trader's address: the perp state (clearinghouseState),
the fills (userFillsByTime, paged by time) and the equity curve (portfolio).

https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
("Retrieve user's perpetuals account summary") and
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint ("Retrieve a
user's fills by time", "Query a user's portfolio"). Every number is a decimal string; times are ms.
"""
from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import msgspec

from services.receivers.budget import Budget
from services.receivers.exchanges.hyperliquid.symbols import INFO_PATH, NAME, symbol_of
from services.receivers.frames import FrameError, decode, finite, ms_to_us
from services.receivers.rest import AnswerWeight, VenueClient
from shared.events import EquityPoint, TraderEquity, TraderFill, TraderPosition, TraderState, now_us

# rate-limits-and-user-limits page: clearinghouseState weighs 2; portfolio and userFillsByTime 20,
# and userFillsByTime "an additional rate limit weight per 20 items returned in the response".
STATE_WEIGHT = 2
PORTFOLIO_WEIGHT = 20
FILLS_WEIGHT = 20
ITEMS_PER_EXTRA = 20  # +1 per 20 fills (the page does not say how much: +1, as ccxt assumes)
# userFillsByTime: "Returns at most 2000 fills per response and only the 10000 most recent fills
# are available"; page on with the last fill's time as the next startTime (inclusive).
FILLS_PER_PAGE = 2000
FILLS_AVAILABLE = 10_000
MOST_PAGES = FILLS_AVAILABLE // FILLS_PER_PAGE + 1  # a read never asks for more than the venue serves
_items = msgspec.json.Decoder(list[msgspec.Raw])


def fills_extra_weight(body: bytes) -> float:
    """The weight a fills answer adds: +1 per 20 fills, rounded up so we never count less than the
    venue whichever way it rounds; an answer we cannot count is charged at the most a page adds."""
    try:
        return float(math.ceil(len(_items.decode(body)) / ITEMS_PER_EXTRA))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return FILLS_PER_PAGE / ITEMS_PER_EXTRA


FILLS_ANSWER = AnswerWeight(most=FILLS_PER_PAGE / ITEMS_PER_EXTRA, of=fills_extra_weight)


# --- clearinghouseState ---


class Leverage(msgspec.Struct, frozen=True):
    type: str  # "cross" | "isolated"
    value: Decimal
    rawUsd: Decimal | None = None  # isolated only


class Position(msgspec.Struct, frozen=True):
    coin: str
    szi: Decimal  # signed size: > 0 long, < 0 short
    positionValue: Decimal  # USD
    unrealizedPnl: Decimal
    entryPx: Decimal | None = None
    leverage: Leverage | None = None
    liquidationPx: Decimal | None = None  # null when the account cannot be liquidated


class AssetPosition(msgspec.Struct, frozen=True):
    position: Position
    type: str = "oneWay"


class MarginSummary(msgspec.Struct, frozen=True):
    accountValue: Decimal
    totalNtlPos: Decimal  # notional of every position, USD
    totalMarginUsed: Decimal | None = None
    totalRawUsd: Decimal | None = None


class ClearinghouseState(msgspec.Struct, frozen=True):
    assetPositions: list[AssetPosition]
    marginSummary: MarginSummary
    time: int  # ms
    withdrawable: Decimal | None = None


_state = msgspec.json.Decoder(ClearinghouseState)


def parse_clearinghouse_state(raw: bytes, address: str, recv_ts: int) -> TraderState:
    """clearinghouseState -> the trader's whole perp state at the venue's `time`.

    {"assetPositions":[{"position":{"coin":"ETH","entryPx":"2986.3","leverage":{"rawUsd":"-95.059824",
     "type":"isolated","value":20},"liquidationPx":"2866.26936529","positionValue":"100.02765",
     "szi":"0.0335","unrealizedPnl":"-0.0134",...},"type":"oneWay"}],
     "marginSummary":{"accountValue":"13109.482328","totalNtlPos":"100.02765",...},"time":1708622398623,...}
    """
    state = decode(_state, raw)
    positions = tuple(
        TraderPosition(
            symbol=symbol_of(p.coin), size=finite(p.szi, "szi"),
            entry_price=None if p.entryPx is None else finite(p.entryPx, "entryPx"),
            position_value=finite(p.positionValue, "positionValue"),
            unrealized_pnl=finite(p.unrealizedPnl, "unrealizedPnl"),
            leverage=None if p.leverage is None else finite(p.leverage.value, "leverage"),
            liquidation_price=None if p.liquidationPx is None else finite(p.liquidationPx, "liquidationPx"),
        )
        for p in (item.position for item in state.assetPositions)
    )
    summary = state.marginSummary
    return TraderState(
        address=address.lower(), exchange=NAME, account_value=finite(summary.accountValue, "accountValue"),
        notional=finite(summary.totalNtlPos, "totalNtlPos"), positions=positions,
        ts=ms_to_us(state.time), recv_ts=recv_ts,
    )


async def fetch_state(client: VenueClient, address: str, budget: Budget | None = None) -> TraderState:
    body = {"type": "clearinghouseState", "user": address}
    raw = await client.post(INFO_PATH, body, weight=STATE_WEIGHT, budget=budget)
    return parse_clearinghouse_state(raw, address, now_us())


# --- userFillsByTime ---


class FillLiquidation(msgspec.Struct, frozen=True):
    """On both fills of a liquidation: whose it was, at which mark, how."""

    liquidatedUser: str | None = None
    markPx: Decimal | None = None
    method: str = ""  # "market" | "backstop"


class WireFill(msgspec.Struct, frozen=True):
    coin: str  # "BTC" for a perp, "@107" for a spot pair named by index
    px: Decimal
    sz: Decimal
    side: Literal["A", "B"]  # B: bought (bid side), A: sold
    time: int  # ms
    startPosition: Decimal  # signed size before the fill
    dir: str  # "Open Long", "Close Short", "Long > Short", "Liquidated Isolated Long", ...
    closedPnl: Decimal
    oid: int
    tid: int
    fee: Decimal  # total, builder fee included; negative = rebate
    feeToken: str = "USDC"
    hash: str = ""
    crossed: bool = False  # taker
    builderFee: Decimal | None = None  # absent when 0
    liquidation: FillLiquidation | None = None


_fills = msgspec.json.Decoder(list[WireFill])


def decode_fills(raw: bytes) -> list[WireFill]:
    """A userFillsByTime answer, oldest first, as the venue sent it (spot fills included)."""
    return decode(_fills, raw)


def trader_fill(fill: WireFill, address: str, recv_ts: int) -> TraderFill | None:
    """One fill of `address` -> TraderFill; None for a spot pair named by index ("@107"), which only
    spotMeta resolves. `liquidation` marks the fill of the trader's own liquidation (the block is on
    the liquidator's fill too, naming the liquidated user).

    {"closedPnl":"0.0","coin":"AVAX","crossed":false,"dir":"Open Long","hash":"0xa166...","oid":90542681,
     "px":"18.435","side":"B","startPosition":"26.86","sz":"93.53","time":1681222254710,"fee":"0.01",
     "feeToken":"USDC","builderFee":"0.01","tid":118906512037719}
    """
    if fill.coin.startswith("@"):
        return None
    liquidated = fill.liquidation is not None and (
        fill.liquidation.liquidatedUser is None or fill.liquidation.liquidatedUser.lower() == address.lower())
    return TraderFill(
        address=address.lower(), exchange=NAME, symbol=symbol_of(fill.coin), tid=str(fill.tid),
        order_id=str(fill.oid), side="buy" if fill.side == "B" else "sell", price=finite(fill.px, "px"),
        size=finite(fill.sz, "sz"), start_position=finite(fill.startPosition, "startPosition"),
        direction=fill.dir, closed_pnl=finite(fill.closedPnl, "closedPnl"), fee=finite(fill.fee, "fee"),
        fee_asset=fill.feeToken, liquidation=liquidated, ts=ms_to_us(fill.time), recv_ts=recv_ts,
    )


@dataclass(frozen=True)
class FillsRead:
    """What one incremental read of a trader's fills found."""

    fills: list[TraderFill]  # the fills newer than the read's start, oldest first, each once
    newest_ms: int  # the newest fill's time: the next read starts there (since_ms when none came)
    served: int  # distinct fills the venue served (its newest 10000 at most)
    truncated: bool  # fills older than the first one served were lost to the 10000 cap
    pages: int


async def fill_pages(client: VenueClient, address: str, start_ms: int,
                     budget: Budget | None = None) -> AsyncIterator[list[WireFill]]:
    """The address's userFillsByTime pages from `start_ms` (inclusive), oldest first, each as served.

    A full page (2000) goes on from its last fill's time, inclusive, so fills sharing that
    millisecond are served again (the reader counts them once by (tid, time)); a page all in one
    millisecond goes on from the next. At most MOST_PAGES: the venue serves no more."""
    start = start_ms
    for _ in range(MOST_PAGES):
        body = {"type": "userFillsByTime", "user": address, "startTime": start}
        page = decode_fills(await client.post(INFO_PATH, body, weight=FILLS_WEIGHT, budget=budget,
                                              answer=FILLS_ANSWER))
        yield page
        if len(page) < FILLS_PER_PAGE:
            return
        last = page[-1].time
        start = last if last > page[0].time else last + 1  # a page all in one millisecond: past it


async def read_fills(client: VenueClient, address: str, since_ms: int,
                     budget: Budget | None = None) -> FillsRead:
    """Every fill from `since_ms` (the newest already read; 0: none yet), paged by time (fill_pages).

    The history is truncated when the venue served its whole 10000 (older ones may exist), or
    when the fill at `since_ms` is no longer served: more than 10000 came since the last read.
    """
    pages, first_ms = 0, None
    seen: set[tuple[int, int]] = set()
    fills: list[TraderFill] = []
    async for page in fill_pages(client, address, since_ms, budget):
        recv_ts, pages = now_us(), pages + 1
        for fill in page:
            first_ms = fill.time if first_ms is None else first_ms
            if (fill.tid, fill.time) in seen:
                continue
            seen.add((fill.tid, fill.time))
            event = trader_fill(fill, address, recv_ts) if fill.time > since_ms else None
            if event is not None:
                fills.append(event)
    newest = max([since_ms, *(time for _, time in seen)])
    lost = since_ms > 0 and (first_ms is None or first_ms > since_ms)
    return FillsRead(fills, newest, len(seen), len(seen) >= FILLS_AVAILABLE or lost, pages)


# --- portfolio ---


class Period(msgspec.Struct, frozen=True):
    accountValueHistory: list[tuple[int, Decimal]]  # [ms, account value]
    pnlHistory: list[tuple[int, Decimal]]  # [ms, PnL since the period's start]
    vlm: Decimal | None = None


_portfolio = msgspec.json.Decoder(list[tuple[str, Period]])
EQUITY_PERIOD = "allTime"


def parse_portfolio(raw: bytes, address: str, recv_ts: int) -> TraderEquity:
    """portfolio -> the allTime equity curve: accountValueHistory beside pnlHistory, joined on their
    times (a time missing from either is left out); `ts` is the newest point's (recv_ts without one).

    [["day",{"accountValueHistory":[[1741886630493,"0.0"]],"pnlHistory":[[1741886630493,"0.0"]],
      "vlm":"0.0"}], ..., ["allTime",{...}], ["perpDay",{...}], ...]
    """
    answer: list[tuple[str, Period]] = decode(_portfolio, raw)
    periods = dict(answer)
    period = periods.get(EQUITY_PERIOD)
    if period is None:
        raise FrameError(f"portfolio without {EQUITY_PERIOD!r}: {sorted(periods)}")
    pnl = dict(period.pnlHistory)
    points = tuple(
        EquityPoint(ms_to_us(ms), finite(value, "accountValue"), finite(pnl[ms], "pnl"))
        for ms, value in sorted(period.accountValueHistory)
        if ms in pnl
    )
    return TraderEquity(address=address.lower(), exchange=NAME, points=points,
                        ts=points[-1].ts if points else recv_ts, recv_ts=recv_ts)


async def fetch_equity(client: VenueClient, address: str, budget: Budget | None = None) -> TraderEquity:
    raw = await client.post(INFO_PATH, {"type": "portfolio", "user": address}, weight=PORTFOLIO_WEIGHT,
                            budget=budget)
    return parse_portfolio(raw, address, now_us())
