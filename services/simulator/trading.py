"""The simulated market's trades, made with time: a symbol's Maker makes its trade frames at the
venue's rate from its first subscription on, whether or not a socket listens, and each
subscription (`Sub`) sends the frames made since its cursor (services/simulator/venue.py runs them)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.simulator.venue import Session, Venue

KEPT_S, KEPT_FRAMES = 2.0, 2000  # made trade frames kept for the subscriptions to send
# at most this much trading made at once: a rate beyond what the simulator can build is cut to what
# it can (made counts what was), never a backlog that grows
BURST_S, BURST_FRAMES = 0.05, 100


@dataclass
class Sub:
    """One subscription of one connection."""

    channel: str  # trades, candles, funding, prices, liquidations
    symbol: str  # the venue's own name: BTCUSDT, BTC-USDT-SWAP, BTC, BTC-PERPETUAL; "*" = every symbol
    key: str  # what the client subscribed to, as it wrote it (stream, topic, channel)
    extra: dict[str, str] = field(default_factory=dict)  # venue details, e.g. an OKX arg
    started: float = 0.0
    sent: int = 0
    cursor: int = 0  # trades: the number of the next made frame this subscription sends (Maker.made)


class Maker:
    """One symbol's trades, made with time at the venue's rate: each frame is built once, under the
    name of the symbol's first subscription, and kept for KEPT_S (at least KEPT_FRAMES) for the
    subscriptions to send; one that falls further behind skips ahead (counted as lagged)."""

    def __init__(self, sub: Sub, session: Session, rate: float, now: float) -> None:
        self.sub = Sub(sub.channel, sub.symbol, sub.key, dict(sub.extra))  # what the frames are built as
        self.session = session  # a session of no connection: the venue builds frames against its state
        self.rate = rate
        self.started = self.last = now
        self.made = 0  # frames made
        self.frames: deque[tuple[str, int]] = deque(maxlen=max(KEPT_FRAMES, int(rate * KEPT_S)))
        self.lagged = 0  # frames a subscription never got: it fell more than the frames kept behind
        self.burst = max(BURST_FRAMES, int(rate * BURST_S))  # made at most at once
        self.readers = 0  # subscriptions of open connections: their writers make the frames

    def advance(self, venue: Venue, now: float, most: int | None = None) -> int:
        """Make the frames due by now, at most `most` (0: the market is halted, time stands still
        for it); the trades made."""
        if most == 0:
            self.started += now - self.last
            self.last = now
            return 0
        self.last = now
        due = int((now - self.started) * self.rate) - self.made
        most = self.burst if most is None else min(most, self.burst)
        if due > most:  # the cap, or more than the simulator can build: no backlog is kept
            due = most
            self.started = now - (self.made + due) / self.rate
        trades = 0
        prebuilt = self.session.state.prebuilt  # benchmarks: frames from templates (prebuilt.py)
        for _ in range(due):
            text, count = prebuilt(self.sub) if prebuilt is not None else venue.frame(self.sub, self.session)
            self.frames.append((text, count))
            self.made += 1
            trades += count
        return trades

    def set_rate(self, rate: float, now: float) -> None:
        """Trade at `rate` from now on: nothing is due at once, and the frames kept follow the rate."""
        self.rate = rate
        self.started = now - self.made / rate
        self.burst = max(BURST_FRAMES, int(rate * BURST_S))
        self.frames = deque(self.frames, maxlen=max(KEPT_FRAMES, int(rate * KEPT_S)))

    def since(self, sub: Sub) -> list[tuple[str, int]]:
        """The frames made since the subscription's cursor, which moves to the end; renamed to the
        subscription's own key where it named the stream differently."""
        new, kept = self.made - sub.cursor, len(self.frames)
        if new <= 0:
            return []
        self.lagged += max(0, new - kept)
        sub.cursor = self.made
        frames = self.frames
        made = [frames[i] for i in range(-min(new, kept), 0)]
        if sub.key != self.sub.key:
            made = [(text.replace(self.sub.key, sub.key, 1), count) for text, count in made]
        return made
