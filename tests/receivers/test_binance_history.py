"""Binance REST trade history parsed from the documentation's own examples, into the very Trade the
live streams make of the same trade."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from services.receivers.exchanges.binance.history import parse_agg_trades, parse_historical_trades
from services.receivers.exchanges.binance.market import AggTrade, agg_trade_events, parse_spot_trade


def test_agg_trades_example_is_the_stream_trade() -> None:
    raw = (b'[{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,'
           b'"T":1498793709153,"m":true}]')
    [trade] = parse_agg_trades(raw, "BTCUSDT", 5)
    assert (trade.trade_id, trade.price, trade.size, trade.side, trade.ts, trade.symbol) == (
        "26129", Decimal("0.01633102"), Decimal("4.70443515"), "sell", 1498793709153000, "BTC-USDT-PERP")
    frame = (b'{"e":"aggTrade","E":1498793709160,"s":"BTCUSDT","a":26129,"p":"0.01633102",'
             b'"q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":true}')
    live = msgspec.json.decode(frame, type=AggTrade)
    assert agg_trade_events(live, 5) == [trade]


def test_historical_trades_example_is_the_stream_trade() -> None:
    raw = (b'[{"id":28457,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012",'
           b'"time":1499865549590,"isBuyerMaker":true,"isBestMatch":true}]')
    [trade] = parse_historical_trades(raw, "BNBBTC", 5)
    expected = ("28457", "sell", 1499865549590000, "BNB-BTC")
    assert (trade.trade_id, trade.side, trade.ts, trade.symbol) == expected
    live = parse_spot_trade(b'{"e":"trade","E":1499865549599,"s":"BNBBTC","t":28457,"p":"4.00000100",'
                            b'"q":"12.00000000","T":1499865549590,"m":true,"M":true}', 5)
    assert live == [trade]
