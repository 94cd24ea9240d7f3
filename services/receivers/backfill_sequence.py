"""Gap detection per socket. Where a venue's trade keys are consecutive per symbol (Binance aggTrade
`a`, spot `t`, Deribit `trade_seq`), a jump in keys is a gap, whether the socket dropped, the
receivers restarted, or the venue skipped frames with the socket up (`Sequencer`). Where they are
not (OKX tradeId, Bybit execId), only an outage or a restart opens a window, from the last trade
seen before it to the first after it (`OutageSequencer`). Each sees a socket's data frames after
they are published; the cost per trade is one key read and two dict writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from services.receivers.backfill_positions import Position
from shared.events import AnyEvent, Trade

KeyOf = Callable[[Trade], "int | None"]  # a trade's place in its symbol's history


def seq_key(trade: Trade) -> int | None:
    """Deribit: trade_seq, consecutive per instrument (its trade_id is unique per currency only)."""
    return trade.seq


def ms_key(trade: Trade) -> int:
    """Bybit: the trade's time in ms, which several trades may share (execId is no sequence)."""
    return trade.ts // 1000


class Page(NamedTuple):
    """One answer of a venue's REST history: every trade it has with start <= key <= through."""

    trades: list[tuple[int, Trade]]  # (key, trade), keys ascending
    start: int  # above the key asked for: the history does not reach back that far
    through: int


def page_of(keyed: list[tuple[int, Trade]], first: int, last: int, complete: bool) -> Page:
    """A page read from `first`: it covers first..last when the venue said it holds no more (complete),
    else up to its last key. An empty one covers nothing."""
    if not keyed:
        return Page([], first, last) if complete else Page([], last + 1, first - 1)
    return Page(keyed, keyed[0][0] if keyed[0][0] > first else first, last if complete else keyed[-1][0])


@dataclass(frozen=True)
class Missing:
    """Keys first_id..last_id of one symbol never came over the socket (ids, trade_seq, or ms)."""

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
    seen: frozenset[str] = frozenset()  # ms windows: trade ids the socket gave at either end
    after: Trade | None = None  # id windows: the trade that closed it (OKX: its matches are in the window)


class Sequencer:
    """The last trade key per symbol of one socket; a jump becomes a `Missing` handed to `found`."""

    def __init__(self, feed: str, record: str, exchange: str, found: Callable[[Missing], None],
                 resume: dict[str, Position] | None = None, key_of: KeyOf | None = None) -> None:
        self.feed = feed
        self.record = record
        self.exchange = exchange
        self.found = found
        self.key_of = key_of  # None: int(trade_id), the common case kept inline
        self.last_id: dict[str, int] = {}
        self.last_ts: dict[str, int] = {}
        self.raw: dict[str, str] = {}
        self._resume = dict(resume or {})  # where the previous process stopped, per symbol
        self._outage_reason = "restart" if resume else ""
        self._before: dict[str, int] = {}  # last keys when the outage closed: a symbol's next jump spans it

    def outage_closed(self, reason: str) -> None:
        """Data flows again after an outage: each symbol's first jump from here is the outage's."""
        self._outage_reason = reason
        self._before = dict(self.last_id)

    def observe(self, events: Sequence[AnyEvent], recv_ts: int) -> None:
        key_of = self.key_of
        for event in events:
            if type(event) is not Trade:
                continue
            trade_id = int(event.trade_id) if key_of is None else key_of(event)
            if trade_id is None:
                continue
            symbol = event.symbol
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

    def _reason(self, symbol: str, last: int) -> str:
        return self._outage_reason if self._outage_reason and self._before.get(symbol) == last else "sequence"

    def _jump(self, trade: Trade, last: int, trade_id: int, recv_ts: int) -> None:
        symbol = trade.symbol
        self.found(Missing(
            feed=self.feed, record=self.record, exchange=self.exchange, symbol=symbol,
            raw_symbol=trade.raw_symbol, first_id=last + 1, last_id=trade_id - 1,
            from_ts=self.last_ts.get(symbol, recv_ts), to_ts=recv_ts, reason=self._reason(symbol, last)))

    def positions(self) -> dict[str, Position]:
        """Where this socket stands now, per symbol."""
        return {s: Position(i, self.last_ts[s], self.raw[s]) for s, i in self.last_id.items()}


@dataclass
class _Edge:
    """The trade ids of a symbol at its last key (ms windows: several trades share one ms)."""

    ids: list[str] = field(default_factory=list)


class OutageSequencer(Sequencer):
    """Keys that are no sequence: no jump means anything, so the first trade of each symbol after an
    outage or a restart closes a window from the last key seen. Keyed by id (OKX: ids increase, the
    window is the ids strictly between) or by ms (Bybit: the window holds both ends' ms, less the
    trades the socket gave there)."""

    def __init__(self, feed: str, record: str, exchange: str, found: Callable[[Missing], None],
                 resume: dict[str, Position] | None = None, key_of: KeyOf | None = None,
                 shared_keys: bool = False) -> None:
        super().__init__(feed, record, exchange, found, resume, key_of)
        self.shared_keys = shared_keys
        self._edges: dict[str, _Edge] = {}
        self._open: set[str] = set()  # symbols whose next new trade closes an outage's window

    def outage_closed(self, reason: str) -> None:
        super().outage_closed(reason)
        self._open = set(self.last_id)

    def observe(self, events: Sequence[AnyEvent], recv_ts: int) -> None:
        key_of = self.key_of
        for event in events:
            if type(event) is not Trade:
                continue
            key = int(event.trade_id) if key_of is None else key_of(event)
            if key is None:
                continue
            symbol = event.symbol
            last = self.last_id.get(symbol)
            if last is None:
                last = self._first_of(event)
            if last is not None and self._seen(symbol, last, key, event.trade_id):
                continue
            if last is not None and symbol in self._open:
                self._open.discard(symbol)
                self._window(event, last, key, recv_ts)
            edge = self._edges.setdefault(symbol, _Edge())
            if key != last:
                edge.ids = []
            if self.shared_keys:
                edge.ids.append(event.trade_id)
            self.last_id[symbol] = key
            self.last_ts[symbol] = recv_ts

    def _seen(self, symbol: str, last: int, key: int, trade_id: str) -> bool:
        if key != last:
            return key < last
        return not self.shared_keys or trade_id in self._edges[symbol].ids

    def _first_of(self, trade: Trade) -> int | None:
        resumed = self._resume.get(trade.symbol)
        last = super()._first_of(trade)
        if resumed is not None:
            self._edges[trade.symbol] = _Edge(list(resumed.seen))
            self._open.add(trade.symbol)
        return last

    def _window(self, trade: Trade, last: int, key: int, recv_ts: int) -> None:
        symbol = trade.symbol
        first, final = (last, key) if self.shared_keys else (last + 1, key - 1)
        if first > final:
            return  # ids with nothing between them
        seen = frozenset([*self._edges[symbol].ids, trade.trade_id]) if self.shared_keys else frozenset()
        self.found(Missing(
            feed=self.feed, record=self.record, exchange=self.exchange, symbol=symbol,
            raw_symbol=trade.raw_symbol, first_id=first, last_id=final,
            from_ts=self.last_ts.get(symbol, recv_ts), to_ts=recv_ts, reason=self._reason(symbol, last),
            seen=seen, after=None if self.shared_keys else trade))

    def positions(self) -> dict[str, Position]:
        if not self.shared_keys:
            return super().positions()
        return {s: Position(i, self.last_ts[s], self.raw[s], tuple(self._edges[s].ids))
                for s, i in self.last_id.items()}
