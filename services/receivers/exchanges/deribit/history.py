"""Deribit REST trade history by sequence: the trades a socket missed, in the shape the trades
channel gives them (same trade_id, time and USD-to-coin size, and trade_seq).

`trade_seq` is "the sequence number of the trade within instrument": consecutive per instrument,
so a jump in it is a gap. trade_id is unique per currency only and is no sequence.
  GET /api/v2/public/get_last_trades_by_instrument?instrument_name=&start_seq=&end_seq=&count=&sorting=asc
  https://docs.deribit.com/api-reference/market-data/public-get_last_trades_by_instrument
  count: default 10, "maximum - 1000"; the result is {"trades": [...], "has_more": bool}.
Rate limits (https://docs.deribit.com/articles/rate-limits): a non-matching request costs 500 credits
of a pool refilled at 10,000 a second: 20 requests a second, weight 1 each (account_rest.py).
"""

from __future__ import annotations

import msgspec

from services.receivers.backfill_sequence import Page, page_of
from services.receivers.exchanges.deribit.account_rest import API, REQUEST_WEIGHT
from services.receivers.exchanges.deribit.market import NAME, DeribitTrade, trade_of
from services.receivers.frames import FrameError, decode
from services.receivers.rest import VenueClient
from services.receivers.venue import Facts
from shared.events import now_us

__all__ = ["NAME", "PAGE_LIMIT", "fetch_page", "parse_trades_page"]

PAGE_LIMIT = 1000  # count: "maximum - 1000"


class TradesPage(msgspec.Struct, frozen=True):
    trades: list[DeribitTrade]
    has_more: bool = False


class RpcError(msgspec.Struct, frozen=True):
    code: int
    message: str


class Answer(msgspec.Struct, frozen=True):
    result: TradesPage | None = None
    error: RpcError | None = None


_answer = msgspec.json.Decoder(Answer)


def parse_trades_page(raw: bytes, recv_ts: int) -> tuple[list[tuple[int, DeribitTrade]], bool]:
    """get_last_trades_by_instrument -> (trade_seq, trade) ascending, and whether it has more.

    {"jsonrpc":"2.0","id":9267,"result":{"trades":[{"trade_seq":30289442,"trade_id":"48079269",
     "timestamp":1590484512188,"tick_direction":2,"price":8950,"mark_price":8948.9,
     "instrument_name":"BTC-PERPETUAL","index_price":8955.88,"direction":"sell","amount":10}],
     "has_more":true}}
    """
    answer = decode(_answer, raw)
    if answer.result is None:
        error = answer.error
        raise FrameError(f"deribit refused: {error.code} {error.message}" if error else "no result")
    rows = [(t.trade_seq, t) for t in answer.result.trades if t.trade_seq is not None]
    return sorted(rows, key=lambda row: row[0]), answer.result.has_more


async def fetch_page(client: VenueClient, facts: Facts, instrument: str, first: int, last: int,
                     limit: int) -> Page:
    """Trades with trade_seq first..last, oldest first, at most `limit` (one page)."""
    params = {"instrument_name": instrument, "start_seq": str(first), "end_seq": str(last),
              "count": str(min(limit, PAGE_LIMIT)), "sorting": "asc"}
    raw = await client.get(API + "public/get_last_trades_by_instrument", params, weight=REQUEST_WEIGHT)
    recv_ts = now_us()
    rows, more = parse_trades_page(raw, recv_ts)
    keyed = [(seq, trade_of(t, recv_ts)) for seq, t in rows if first <= seq <= last]
    return page_of(keyed, first, last, complete=not more)
