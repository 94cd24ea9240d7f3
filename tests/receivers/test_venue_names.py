"""An event's exchange is its venue, whichever market it comes from: Binance spot and Bybit spot say
binance and bybit, as their perpetuals do, and the symbol tells the market. A spot socket keeps its
own feed name (binance_spot:0), but its gap records and its state name the venue."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.receivers.connection import FeedConnection
from services.receivers.exchanges import FEEDS, bybit, exchange_of
from services.receivers.exchanges.binance import market, rest
from shared.events import AnyEvent, Gap, SpotPrice, Trade, now_us
from tests.fixtures import frame
from tests.receivers.sim import FakeProducer, SettingsFactory, running, simulator, wait_until

RECV_TS = 1_700_000_000_000_000
Parse = Callable[[], list[AnyEvent]]

# (what, parse a sample of it) -> (exchange, symbol) of every event it gives
MARKETS: list[tuple[str, Parse, str, str]] = [
    ("binance spot trade", lambda: market.parse_frame_spot(frame("binance_spot", "trade"), RECV_TS),
     "binance", "BNB-BTC"),
    ("binance spot price (REST)",
     lambda: rest.parse_ticker_price(frame("binance_spot", "ticker_price"), RECV_TS, symbols={"ETHBTC"}),
     "binance", "ETH-BTC"),
    ("binance perpetual trade", lambda: market.parse_frame(frame("binance", "aggTrade"), RECV_TS),
     "binance", "BTC-USDT-PERP"),
    ("bybit spot trade", lambda: bybit.parse_frame_spot(frame("bybit", "publicTrade"), RECV_TS),
     "bybit", "BTC-USDT"),
    ("bybit spot price (REST)", lambda: bybit.parse_rest_spot(frame("bybit", "rest_tickers_spot"), RECV_TS),
     "bybit", "BTC-USDT"),
    ("bybit perpetual trade", lambda: bybit.parse_frame(frame("bybit", "publicTrade"), RECV_TS),
     "bybit", "BTC-USDT-PERP"),
]


@pytest.mark.parametrize(("what", "parse", "exchange", "symbol"), MARKETS, ids=[m[0] for m in MARKETS])
def test_spot_and_perpetual_events_carry_their_venue_and_differ_by_symbol(
    what: str, parse: Parse, exchange: str, symbol: str
) -> None:
    events = [e for e in parse() if isinstance(e, (Trade, SpotPrice))]
    assert events, what
    assert {(e.exchange, e.symbol) for e in events} == {(exchange, symbol)}


def test_every_feed_of_the_registry_names_its_venue() -> None:
    assert {name: exchange_of(name) for name in FEEDS} == {
        "binance": "binance", "binance_spot": "binance", "bybit": "bybit", "bybit_spot": "bybit",
        "okx": "okx", "hyperliquid": "hyperliquid", "deribit": "deribit",
    }


@pytest.mark.parametrize(("feed", "venue"), [("binance_spot", "binance"), ("bybit_spot", "bybit")])
async def test_a_spot_socket_names_its_venue_in_events_gaps_and_state(
    feed: str, venue: str, make_settings: SettingsFactory
) -> None:
    """Through the simulator's wire format: a restart's gap, the trades and the state of the socket."""
    producer = FakeProducer()
    async with simulator(make_settings) as sim:
        since = now_us() - 5_000_000  # the last process saw data then: this start is a gap
        connection = FeedConnection(sim.feed(feed), producer, resume_from=since)
        async with running(connection):
            await wait_until(lambda: any(isinstance(e, Trade) for e in producer.events), what="spot trades")
        status = connection.status()
    gaps = [e for e in producer.events if isinstance(e, Gap)]
    assert [(g.feed, g.exchange, g.reason) for g in gaps] == [(f"{feed}:0", venue, "restart")]
    trades = [e for e in producer.events if isinstance(e, Trade)]
    assert {t.exchange for t in trades} == {venue}
    assert all(t.symbol.count("-") == 1 for t in trades)  # BASE-QUOTE: the spot market
    assert (status.feed, status.exchange) == (f"{feed}:0", venue)
