"""Sequence-gap detection: on venues whose trade ids are consecutive per symbol, a jump in ids is a
gap, whether the socket dropped, the receivers restarted, or the venue skipped frames with the
socket up. One `Sequencer` per socket sees each of its data frames (after they are published);
the cost per trade is one int() and two dict writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.receivers.backfill_positions import Position
from shared.events import AnyEvent, Trade


@dataclass(frozen=True)
class Missing:
    """Ids first_id..last_id of one symbol never came over the socket."""

    feed: str  # the socket, binance:0
    record: str  # its registry record (binance, binance_spot): whose REST history to read
    exchange: str  # the venue every event names
    symbol: str
    raw_symbol: str
    first_id: int
    last_id: int
    from_ts: int  # receive time of the last trade before the jump (µs)
    to_ts: int  # receive time of the trade after it
    reason: str  # "sequence" (a jump with the socket up) or why the outage began (closed, restart, ...)


class Sequencer:
    """The last trade id per symbol of one socket; a jump becomes a `Missing` handed to `found`."""

    def __init__(self, feed: str, record: str, exchange: str, found: Callable[[Missing], None],
                 resume: dict[str, Position] | None = None) -> None:
        self.feed = feed
        self.record = record
        self.exchange = exchange
        self.found = found
        self.last_id: dict[str, int] = {}
        self.last_ts: dict[str, int] = {}
        self.raw: dict[str, str] = {}
        self._resume = dict(resume or {})  # where the previous process stopped, per symbol
        self._outage_reason = "restart" if resume else ""
        self._before: dict[str, int] = {}  # last ids when the outage closed: a symbol's next jump spans it

    def outage_closed(self, reason: str) -> None:
        """Data flows again after an outage: each symbol's first jump from here is the outage's."""
        self._outage_reason = reason
        self._before = dict(self.last_id)

    def observe(self, events: Sequence[AnyEvent], recv_ts: int) -> None:
        for event in events:
            if type(event) is not Trade:
                continue
            symbol = event.symbol
            trade_id = int(event.trade_id)
            last = self.last_id.get(symbol)
            if last is None:
                last = self._first_of(event)
            if last is not None:
                if trade_id <= last:
                    continue  # seen already
                if trade_id != last + 1:
                    self._jump(event, last, trade_id, recv_ts)
            self.last_id[symbol] = trade_id
            self.last_ts[symbol] = recv_ts

    def _first_of(self, trade: Trade) -> int | None:
        """A symbol's first trade in this process: where the previous one stopped, if it said."""
        self.raw[trade.symbol] = trade.raw_symbol
        resumed = self._resume.pop(trade.symbol, None)
        if resumed is None:
            return None
        self.last_ts[trade.symbol] = resumed.recv_ts
        self._before[trade.symbol] = resumed.trade_id
        return resumed.trade_id

    def _jump(self, trade: Trade, last: int, trade_id: int, recv_ts: int) -> None:
        symbol = trade.symbol
        over_outage = self._outage_reason and self._before.get(symbol) == last
        self.found(Missing(
            feed=self.feed, record=self.record, exchange=self.exchange, symbol=symbol,
            raw_symbol=trade.raw_symbol, first_id=last + 1, last_id=trade_id - 1,
            from_ts=self.last_ts.get(symbol, recv_ts), to_ts=recv_ts,
            reason=self._outage_reason if over_outage else "sequence"))

    def positions(self) -> dict[str, Position]:
        """Where this socket stands now, per symbol."""
        return {s: Position(i, self.last_ts[s], self.raw[s]) for s, i in self.last_id.items()}
