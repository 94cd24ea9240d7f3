"""The websocket engine every simulated venue shares: subscriptions, paced frames, scripted
misbehaviour and counters. A venue file (binance.py, bybit.py, ...) only speaks its protocol:
what a client message means, how an ack, a pong and a refusal look, and each channel's frame.

Modes (POST /control?mode=...&venue=...):
  normal     frames at their rates, pings answered, subscriptions acknowledged
  silence    no data, but pings, heartbeats and subscriptions still answered (a maintenance)
  paused     as silence (the demo summary pauses the simulator before counting)
  close      every connection dropped abruptly (TCP abort, no close frame), new ones too
  halfopen   nothing read, nothing written, the TCP socket left open: no pong ever comes back
  garbage    a garbage frame before every data frame
  truncated  every other data frame cut in half (the frame and its trades are lost)
  suberror   subscriptions answered with the venue's error format, and not served
  notice     the venue's notice of a coming disconnect (Binance serverShutdown, OKX 64008), once to
             each connection open when the mode is set; data goes on (venues without one: normal)
  drop       trade frames silently left out, DROP_RUN of every DROP_EVERY per subscription: holes in
             the trade ids with the socket up (the trades stay in the venue's REST history)

Trades are made by the market, not by the sockets: from a symbol's first subscription on, its Maker
makes `simulator_rate` trade frames a second whether or not a socket listens (the app's ticker keeps
it going with nobody connected), records each in the venue's REST history as it is made, and every
socket subscribed at the time sends that very frame. So a client that was away (killed, closed,
half-open) finds what it missed in the history, and "made" is what every subscriber was sent. The
market halts in silence and paused (a maintenance, the demo's count) and at max_frames.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from services.simulator.history import TradeRing
from services.simulator.population import Population
from services.simulator.tape import Tape
from services.simulator.trading import Maker
from services.simulator.trading import Sub as Sub  # the venue files' import
from shared.config import Settings

log = logging.getLogger(__name__)
MODES = ("normal", "silence", "paused", "close", "halfopen", "garbage", "truncated", "suberror", "notice",
         "drop")
DROP_EVERY, DROP_RUN = 25, 3  # drop mode: 3 trade frames of every 25 never sent
TICK_S = 0.02
RATES = {
    "candles": 4.0,
    "funding": 1.0,
    "prices": 1.0,
    "liquidations": 0.5,
}  # frames/s; trades: simulator_rate
GARBAGE = ("not json at all", "\x00\x01\x02\x7f", '{"', "[1,2,", '{"unexpected":true}', "}{")
SESSIONS_KEPT = 50
HALTED = ("silence", "paused")  # modes in which the market makes no trades


class VenueState:
    """Tapes shared by all connections of one venue, its counters and its current mode."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.mode = "normal"
        self.max_frames: int | None = settings.simulator.max_frames or None  # trades per symbol
        self.tapes: dict[str, Tape] = {}
        self.makers: dict[str, Maker] = {}  # symbol -> its trades, from its first subscription on
        self.made: Counter[str] = Counter()  # trades made, per symbol
        self.frames: Counter[str] = Counter()  # data frames sent, per symbol (every connection)
        self.trades: Counter[str] = Counter()  # trades inside them, per symbol
        self.garbage = 0  # garbage and truncated frames sent
        self.dropped: Counter[str] = Counter()  # trades made but not sent (drop mode), per symbol
        self.history = TradeRing()  # the trades made, as the venue's REST history serves them
        self.connections = 0
        self.opened = 0  # connections ever accepted
        self.deflated = 0  # of them, those that negotiated permessage-deflate (the client offered it)
        self.sessions: deque[list[str]] = deque(maxlen=SESSIONS_KEPT)  # subscription keys of each connection
        self.open: dict[Session, tuple[web.WebSocketResponse, web.Request]] = {}  # closed at shutdown
        self.population: Callable[[], Population] | None = None  # hyperliquid's traders, built on first use
        self.rate = settings.simulator.rate  # trade frames/s per subscription (POST /control?rate=)
        # trade frames from templates (services/simulator/prebuilt.py, POST /control?prebuilt=1)
        self.prebuilt: Callable[[Sub], tuple[str, int]] | None = None

    def tape(self, symbol: str) -> Tape:
        if symbol not in self.tapes:
            self.tapes[symbol] = Tape(self.name, symbol, self.settings.simulator.seed)
        return self.tapes[symbol]

    def maker(self, sub: Sub) -> Maker:
        """The symbol's trade maker, started by its first subscription."""
        maker = self.makers.get(sub.symbol)
        if maker is None:
            maker = Maker(sub, Session(self, 0), self.rate, time.monotonic())
            self.makers[sub.symbol] = maker
        return maker

    def advance(self, venue: Venue, now: float, unread: bool = False) -> None:
        """Every symbol's trades due by now: each connection's writer makes them before it sends, the
        app's ticker those of symbols nobody reads (`unread`), so a saturated writer alternates
        making and sending instead of racing a maker it cannot keep up with."""
        halted, cap = self.mode in HALTED, self.max_frames
        for symbol, maker in self.makers.items():
            if unread and maker.readers:
                continue
            most = 0 if halted else None if cap is None else max(0, cap - self.made[symbol])
            self.made[symbol] += maker.advance(venue, now, most)

    def set_rate(self, rate: float) -> None:
        """A new trade rate from now on: the makers count the frames due afresh, no burst to catch up."""
        self.rate = rate
        now = time.monotonic()
        for maker in self.makers.values():
            maker.set_rate(rate, now)

    def stats(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "rate": self.rate,
            "prebuilt": self.prebuilt is not None,
            "connections": self.connections,
            "opened": self.opened,
            "deflated": self.deflated,
            "made": sum(self.made.values()),
            "made_by_symbol": dict(self.made),
            "lagged": sum(m.lagged for m in self.makers.values()),
            "frames": dict(self.frames),
            "trades": sum(self.trades.values()),
            "trades_by_symbol": dict(self.trades),
            "garbage": self.garbage,
            "dropped": dict(self.dropped),
            "sessions": [sorted(keys) for keys in self.sessions],
        }


class Session:
    """One client connection: its subscriptions and the replies queued for it."""

    def __init__(self, state: VenueState, number: int) -> None:
        self.state = state
        self.conn_id = f"{state.name}-{number:08d}"
        self.subs: dict[str, Sub] = {}
        self.keys: list[str] = []  # kept in state.sessions: the test of a resubscription reads it
        self.outbox: list[str] = []
        self.halfopen = False
        self.noticed = state.mode == "notice"  # opened after the announcement: not told again
        self.extra: dict[str, Any] = {}  # venue state of the connection (Deribit's heartbeat)

    @property
    def refusing(self) -> bool:
        """suberror mode: subscriptions get the venue's error and are not served."""
        return self.state.mode == "suberror"

    def subscribe(self, sub: Sub) -> None:
        if sub.key not in self.subs:
            sub.started = time.monotonic()
            if sub.channel == "trades" and sub.symbol != "*":
                maker = self.state.maker(sub)
                maker.readers += 1
                sub.cursor = maker.made  # the trades made from now on
            self.subs[sub.key] = sub
            self.keys.append(sub.key)

    def send(self, text: str) -> None:
        """Queue a reply (ack, pong, error, heartbeat): written before the next data frames."""
        self.outbox.append(text)


class Venue(Protocol):
    name: str

    def connect(self, request: web.Request, session: Session) -> None:
        """Subscriptions named in the url (Binance), a greeting (Hyperliquid)."""

    def receive(self, text: str, session: Session) -> None:
        """A client message: subscribe, ping, test... -> session.subscribe / session.send."""

    def frame(self, sub: Sub, session: Session) -> tuple[str, int]:
        """The next data frame of a subscription, and how many trades it holds."""

    def tick(self, session: Session, now: float) -> bool:
        """Periodic duties (Deribit's test_request); False closes the connection."""

    def notice(self, session: Session) -> str | None:
        """The venue's notice that it will close the connection soon; None when it has none."""


async def serve(request: web.Request, state: VenueState, venue: Venue) -> web.WebSocketResponse:
    """One client connection of a venue, until the client leaves or a mode drops it."""
    ws = web.WebSocketResponse(timeout=2.0, heartbeat=None, autoping=True, max_msg_size=2**22)
    await ws.prepare(request)
    state.connections += 1
    state.opened += 1
    state.deflated += bool(ws.compress)
    session = Session(state, state.opened)
    state.sessions.append(session.keys)
    venue.connect(request, session)
    reader = asyncio.create_task(_read(ws, venue, session))
    state.open[session] = (ws, request)
    try:
        await _write(ws, request, venue, session, reader)
    except ConnectionResetError:
        pass  # the client went away between two frames: the session is over either way
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        state.connections -= 1
        for sub in session.subs.values():
            maker = state.makers.get(sub.symbol) if sub.channel == "trades" else None
            if maker is not None:
                maker.readers -= 1
        del state.open[session]
    return ws


async def close_all(state: VenueState) -> None:
    """At shutdown: a close frame to every client (going away), an abort for half-open ones."""
    for session, (ws, request) in list(state.open.items()):
        if session.halfopen:
            if request.transport is not None:
                request.transport.abort()
        else:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"simulator shutting down")


async def _read(ws: web.WebSocketResponse, venue: Venue, session: Session) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            venue.receive(msg.data, session)
        elif msg.type == WSMsgType.BINARY:
            venue.receive(msg.data.decode("utf-8", "replace"), session)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _write(
    ws: web.WebSocketResponse,
    request: web.Request,
    venue: Venue,
    session: Session,
    reader: asyncio.Task[None],
) -> None:
    state = session.state
    while not ws.closed:
        await asyncio.sleep(TICK_S)
        mode = state.mode
        if mode == "halfopen" or session.halfopen:
            if not session.halfopen:
                session.halfopen = True
                reader.cancel()  # no more reading: pings and close frames go unanswered
            if _gone(request):
                return
            state.advance(venue, time.monotonic())  # the market goes on; this socket hears none of it
            continue
        if reader.done():
            return  # the client closed
        if mode == "close":
            if request.transport is not None:
                request.transport.abort()
            return
        now = time.monotonic()
        if not venue.tick(session, now):
            await ws.close()
            return
        _announce(venue, session, mode)
        while session.outbox:
            await ws.send_str(session.outbox.pop(0))
        await _emit(ws, venue, session, mode, now)


def _announce(venue: Venue, session: Session, mode: str) -> None:
    """notice mode: the venue's notice of a coming disconnect, once per connection."""
    if mode == "notice" and not session.noticed:
        session.noticed = True
        notice = venue.notice(session)
        if notice is not None:
            session.outbox.append(notice)


def _due(venue: Venue, session: Session, sub: Sub, mode: str, now: float) -> list[tuple[str, int]]:
    """A subscription's frames due by now: the trades the market made since it last sent (those made
    before a halt too), or its channel's frames at the channel's rate (none while halted)."""
    state = session.state
    maker = state.makers.get(sub.symbol) if sub.channel == "trades" else None
    if maker is not None:
        return maker.since(sub)
    if mode in HALTED:
        sub.started, sub.sent = now, 0
        return []
    rate = state.rate if sub.channel == "trades" else RATES.get(sub.channel, 1.0)
    return [venue.frame(sub, session) for _ in range(int((now - sub.started) * rate) - sub.sent)]


async def _emit(ws: web.WebSocketResponse, venue: Venue, session: Session, mode: str, now: float) -> None:
    """Every subscription's frames due by now, through the mode's misbehaviour."""
    state = session.state
    state.advance(venue, now)
    for sub in list(session.subs.values()):
        for text, trades in _due(venue, session, sub, mode, now):
            sub.sent += 1
            if mode == "drop" and sub.channel == "trades" and sub.sent % DROP_EVERY >= DROP_EVERY - DROP_RUN:
                state.dropped[sub.symbol] += trades
                continue
            if mode == "garbage":
                await ws.send_str(GARBAGE[state.garbage % len(GARBAGE)])
                state.garbage += 1
            if mode == "truncated" and sub.sent % 2:
                await ws.send_str(text[: len(text) // 2])
                state.garbage += 1
                continue
            await ws.send_str(text)
            state.frames[sub.symbol] += 1
            state.trades[sub.symbol] += trades
