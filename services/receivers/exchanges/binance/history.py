"""Binance REST trade history: the trades a socket missed, by id, in the shape the live streams
give them (same trade_id and time, so storage and the candle builder see the same trade).

USD-M: the aggTrade stream's `a` is the id of GET /fapi/v1/aggTrades
  https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Compressed-Aggregate-Trades-List
  weight 20, fromId inclusive, limit max 1000, trades not older than one year.
Spot: the trade stream's `t` is the id of GET /api/v3/historicalTrades ("Old trade lookup";
  /api/v3/aggTrades would answer aggregate ids, which the @trade stream does not carry)
  https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#old-trade-lookup
  weight 25, fromId inclusive, limit max 1000.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from services.receivers.exchanges.binance.symbols import NAME, spot_symbol_of, symbol_of
from services.receivers.frames import decode, finite, ms_to_us
from services.receivers.rest import VenueClient
from shared.events import Trade, now_us

PAGE_LIMIT = 1000  # both endpoints: "Default 500; max 1000"
AGG_TRADES_WEIGHT = 20
HISTORICAL_TRADES_WEIGHT = 25


class AggTradeRow(msgspec.Struct, frozen=True, gc=False):
    """One /fapi/v1/aggTrades row: {"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,
    "T":1498793709153,"m":true}"""

    a: int  # aggregate trade id, the stream's `a`
    p: Decimal
    q: Decimal
    T: int  # ms
    m: bool  # was the buyer the maker: the taker sold


class HistoricalTradeRow(msgspec.Struct, frozen=True, gc=False):
    """One /api/v3/historicalTrades row: {"id":28457,"price":"4.00000100","qty":"12.00000000",
    "quoteQty":"48.000012","time":1499865549590,"isBuyerMaker":true,"isBestMatch":true}"""

    id: int  # the trade stream's `t`
    price: Decimal
    qty: Decimal
    time: int  # ms
    isBuyerMaker: bool


_agg_trades = msgspec.json.Decoder(list[AggTradeRow])
_historical_trades = msgspec.json.Decoder(list[HistoricalTradeRow])


def parse_agg_trades(raw: bytes, raw_symbol: str, recv_ts: int) -> list[Trade]:
    """aggTrades -> Trades exactly as agg_trade_events makes them from the stream."""
    symbol = symbol_of(raw_symbol)
    return [
        Trade(exchange=NAME, symbol=symbol, raw_symbol=raw_symbol, trade_id=str(row.a),
              price=finite(row.p, "price"), size=finite(row.q, "size"), side="sell" if row.m else "buy",
              ts=ms_to_us(row.T), recv_ts=recv_ts)
        for row in decode(_agg_trades, raw)
    ]


def parse_historical_trades(raw: bytes, raw_symbol: str, recv_ts: int) -> list[Trade]:
    """historicalTrades -> Trades exactly as spot_trade_events makes them from the stream."""
    symbol = spot_symbol_of(raw_symbol)
    return [
        Trade(exchange=NAME, symbol=symbol, raw_symbol=raw_symbol, trade_id=str(row.id),
              price=finite(row.price, "price"), size=finite(row.qty, "size"),
              side="sell" if row.isBuyerMaker else "buy", ts=ms_to_us(row.time), recv_ts=recv_ts)
        for row in decode(_historical_trades, raw)
    ]


def _params(raw_symbol: str, from_id: int, limit: int) -> dict[str, str]:
    return {"symbol": raw_symbol, "fromId": str(from_id), "limit": str(min(limit, PAGE_LIMIT))}


async def fetch_agg_trades(client: VenueClient, raw_symbol: str, from_id: int, limit: int) -> list[Trade]:
    """USD-M trades from id `from_id` on, oldest first, at most `limit` (one page)."""
    raw = await client.get("/fapi/v1/aggTrades", _params(raw_symbol, from_id, limit),
                           weight=AGG_TRADES_WEIGHT)
    return parse_agg_trades(raw, raw_symbol, now_us())


async def fetch_spot_trades(client: VenueClient, raw_symbol: str, from_id: int, limit: int) -> list[Trade]:
    """Spot trades from id `from_id` on, oldest first, at most `limit` (one page)."""
    raw = await client.get("/api/v3/historicalTrades", _params(raw_symbol, from_id, limit),
                           weight=HISTORICAL_TRADES_WEIGHT)
    return parse_historical_trades(raw, raw_symbol, now_us())
