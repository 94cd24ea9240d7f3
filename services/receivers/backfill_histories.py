"""Each venue's REST trade history as the backfill reads it: how a trade is keyed, whether the keys
are consecutive (every jump is a gap) or not (only an outage opens a window), and one page of it.
What each venue promises, and why, is in docs/backfill.md and beside each fetch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from services.receivers.backfill_sequence import KeyOf, Page, ms_key, page_of, seq_key
from services.receivers.exchanges.binance import history as binance_history
from services.receivers.exchanges.binance.symbols import NAME as BINANCE
from services.receivers.exchanges.binance.symbols import SPOT_NAME as BINANCE_SPOT
from services.receivers.exchanges.bybit import history as bybit_history
from services.receivers.exchanges.deribit import history as deribit_history
from services.receivers.exchanges.okx import history as okx_history
from services.receivers.rest import VenueClient
from services.receivers.venue import Facts
from shared.events import Trade

# (client, the venue's facts table, raw symbol, first key, last key, page size) -> one page
FetchPage = Callable[[VenueClient, Facts, str, int, int, int], Awaitable[Page]]
Keyed = Literal["id", "seq", "ms"]
ById = Callable[[VenueClient, str, int, int], Awaitable[list[Trade]]]


@dataclass(frozen=True)
class TradeHistory:
    """A venue's REST trades: fetch pages of keys first..last, oldest first."""

    fetch: FetchPage
    page: int
    keyed: Keyed = "id"  # the trade id, Deribit's trade_seq, or the time in ms (Bybit)
    consecutive: bool = True  # keys count up by one per trade: every jump is a gap
    client: str = ""  # the registry record whose REST client it reads, when not its own (bybit_spot)

    @property
    def key_of(self) -> KeyOf | None:
        """The sequencer's key of a live trade (None: int(trade_id))."""
        return {"id": None, "seq": seq_key, "ms": ms_key}[self.keyed]


def _from_id(fetch: ById) -> FetchPage:
    """Binance: pages from an id on (fromId, inclusive), ids consecutive."""

    async def page(client: VenueClient, facts: Facts, raw_symbol: str, first: int, last: int,
                   limit: int) -> Page:
        trades = await fetch(client, raw_symbol, first, limit)
        return page_of([(int(t.trade_id), t) for t in trades], first, last, complete=False)

    return page


# registry record -> its trade history
HISTORIES: dict[str, TradeHistory] = {
    BINANCE: TradeHistory(_from_id(binance_history.fetch_agg_trades), binance_history.PAGE_LIMIT),
    BINANCE_SPOT: TradeHistory(_from_id(binance_history.fetch_spot_trades), binance_history.PAGE_LIMIT),
    deribit_history.NAME: TradeHistory(deribit_history.fetch_page, deribit_history.PAGE_LIMIT, "seq"),
    okx_history.NAME: TradeHistory(okx_history.fetch_window, okx_history.PAGE_LIMIT, consecutive=False),
    bybit_history.NAME: TradeHistory(bybit_history.fetch_linear, bybit_history.LINEAR_LIMIT, "ms",
                                     consecutive=False),
    bybit_history.SPOT_NAME: TradeHistory(bybit_history.fetch_spot, bybit_history.SPOT_LIMIT, "ms",
                                          consecutive=False, client=bybit_history.NAME),
}
