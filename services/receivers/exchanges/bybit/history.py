"""Bybit REST trade history: only the newest trades, no paging. The trades a socket missed across an
outage, in the shape publicTrade gives them (same execId and time).

execId is a trade id, not a sequence (a UUID on linear, a large number on spot; "seq", the matching
sequence, is shared by several trades): a gap cannot be seen with the socket up, only an outage or a
restart opens a window, by time, from the last trade seen to the first after it.
  GET /v5/market/recent-trade?category=linear|spot&symbol=&limit=
  https://bybit-exchange.github.io/docs/v5/market/recent-trade
  limit: "spot: [1,60], default: 60; others: [1,1000], default: 500"; newest first; no time or id
  parameter: a window older than the last 1000 trades (spot 60) ends partial.
  Rate limit: the IP's 600 requests per 5 s for every GET (https://bybit-exchange.github.io/docs/v5/rate-limit).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from services.receivers.backfill_sequence import Page, page_of
from services.receivers.exchanges.bybit.market import NAME, SPOT_NAME, Category, trades_of
from services.receivers.frames import FrameError, decode
from services.receivers.rest import VenueClient
from services.receivers.venue import Facts
from shared.events import Trade, now_us

__all__ = ["LINEAR_LIMIT", "NAME", "SPOT_LIMIT", "SPOT_NAME", "fetch_linear", "fetch_spot",
           "parse_recent_trades"]

LINEAR_LIMIT, SPOT_LIMIT = 1000, 60  # the most one answer holds: the whole history there is


class RecentTrade(msgspec.Struct, frozen=True, gc=False):
    """A recent-trade row, its fields named as a publicTrade push's: market.trades_of reads both."""

    i: str = msgspec.field(name="execId")
    s: str = msgspec.field(name="symbol")
    p: Decimal = msgspec.field(name="price")
    v: Decimal = msgspec.field(name="size")
    S: Literal["Buy", "Sell"] = msgspec.field(name="side")  # taker side
    T: int = msgspec.field(name="time")  # ms
    isBlockTrade: bool = False


class RecentTrades(msgspec.Struct, frozen=True):
    trades: list[RecentTrade] = msgspec.field(name="list")


class Answer(msgspec.Struct, frozen=True):
    retCode: int
    retMsg: str = ""
    result: RecentTrades | None = None


_answer = msgspec.json.Decoder(Answer, strict=False)  # numbers are strings


def parse_recent_trades(raw: bytes, category: Category, recv_ts: int) -> list[tuple[int, Trade]]:
    """recent-trade -> (ms, Trade) oldest first.

    {"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"execId":"2100000000007764263",
     "symbol":"BTCUSDT","price":"16618.49","size":"0.00012","side":"Buy","time":"1672052955758",
     "isBlockTrade":false}]},"retExtInfo":{},"time":1672053054358}
    """
    answer = decode(_answer, raw)
    if answer.retCode != 0 or answer.result is None:
        raise FrameError(f"bybit retCode {answer.retCode}: {answer.retMsg}")
    trades = answer.result.trades
    rows = [(t.T, trade) for t, trade in zip(trades, trades_of(trades, recv_ts, category), strict=True)
            if isinstance(trade, Trade)]
    return sorted(rows, key=lambda row: row[0])


async def _fetch(client: VenueClient, category: Category, most: int, symbol: str, first: int,
                 last: int) -> Page:
    """The trades of ms first..last the newest `most` still hold. They reach back over the window when
    the answer is short of `most` or older than `first`; else only from its oldest ms on (exclusive:
    that ms may have more trades than the answer kept)."""
    raw = await client.get("/v5/market/recent-trade", {"category": category, "symbol": symbol,
                                                      "limit": str(most)})
    rows = parse_recent_trades(raw, category, now_us())
    keyed = [(ms, trade) for ms, trade in rows if first <= ms <= last]
    reaches = len(rows) < most or (bool(rows) and rows[0][0] < first)
    page = page_of(keyed, first, last, complete=True)
    return page if reaches else Page(page.trades, rows[0][0] + 1, last)


async def fetch_linear(client: VenueClient, facts: Facts, symbol: str, first: int, last: int,
                       limit: int) -> Page:
    return await _fetch(client, "linear", LINEAR_LIMIT, symbol, first, last)


async def fetch_spot(client: VenueClient, facts: Facts, symbol: str, first: int, last: int,
                     limit: int) -> Page:
    return await _fetch(client, "spot", SPOT_LIMIT, symbol, first, last)
