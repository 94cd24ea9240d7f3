"""One websocket connection class for every exchange: keepalive, idle detection on DATA frames,
planned reconnect before the exchange's forced disconnect, backoff with full jitter that never
gives up, resubscribe, a gap record for every outage, and a status other processes can read.

Idle means "no frame that carried data": pongs, acks and heartbeats do not count, so a socket
that only answers pings is idle, and so is a half-open TCP socket (nothing arrives at all).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Literal

import aiohttp
from aiohttp import WSMsgType

from services.receivers.backfill_sequence import Sequencer
from services.receivers.exchanges import exchange_of
from services.receivers.frames import FrameError, ReconnectNotice
from services.receivers.venue import Feed, Message
from shared import metrics
from shared.backoff import Backoff, sleep_or_stop, until_stopped
from shared.events import Gap, now_us
from shared.feed_status import FeedStatus
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
METRICS_EVERY = 256
PLANNED_JITTER = 0.02  # planned reconnects of sockets opened together spread over 2 % of their age
# Sessions that ended on purpose: before the venue's forced disconnect, on its notice of one, or
# when a private session's login expired. They reconnect at once and never count as failures.
PLANNED = frozenset({"planned", "notice", "expired"})
# The handshake's budget; frames have no timeout of the library's (the idle timer is ours), and a
# close handshake waits at most 1 s for the venue's answer (none once a read was cut short).
OPEN_TIMEOUT = aiohttp.ClientTimeout(total=10)
CLOSE_TIMEOUT = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=1.0)
HEARTBEAT_S = 20  # a protocol ping after 20 s without a byte; no pong within 10 s: the peer is dead
MAX_FRAME = 2**23
TEXT, BINARY = WSMsgType.TEXT, WSMsgType.BINARY
# decode_text=False: text frames arrive as bytes, the parsers validate UTF-8 as they decode (a frame
# of bad UTF-8 is a bad frame skipped, not the end of the session)
Socket = aiohttp.ClientWebSocketResponse[Literal[False]]


class SessionEnded(Exception):
    """Raised by a connection's hooks or its parse to end the session for `reason` (a private
    socket's refused login: "auth_failed"; its expired login: "expired")."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class FeedConnection:
    """Keeps one feed connected forever and publishes what it parses."""

    def __init__(self, feed: Feed, producer: StreamProducer, backoff_max_s: float = 30.0,
                 resume_from: int | None = None, rng: random.Random | None = None,
                 sequencer: Sequencer | None = None) -> None:
        self.feed = feed
        self.sequencer = sequencer  # trade ids checked for jumps (services/receivers/backfill.py)
        self.producer = producer
        self.backoff = Backoff(base=0.5, cap=backoff_max_s, rng=rng)
        self._rng = rng or random.Random()
        self.frames = self.data_frames = self.bad_frames = 0
        self.connects = self.reconnects = 0
        self.failures = 0  # sessions in a row without data
        self.reason = ""
        self.connected_since: int | None = None
        self.last_data_ts: int | None = None
        # recv time of the last data before an outage; a restart resumes the outage the last process saw
        self._outage_from: int | None = resume_from
        self._outage_reason = "restart" if resume_from is not None else ""
        self._session_data = False
        self._ended: str | None = None  # why a session task closed the socket on purpose
        # frame counters reach Prometheus every METRICS_EVERY frames (and with each status): a
        # labelled counter's inc() costs as much as a quarter of a frame's parse
        self._counters = (metrics.FRAMES.labels(feed.name), metrics.DATA_FRAMES.labels(feed.name),
                          metrics.BAD_FRAMES.labels(feed.name))
        self._counted = (0, 0, 0)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, receive, reconnect: until stop, whatever the exchange does."""
        if self.feed.start_delay_s and await sleep_or_stop(stop, self.feed.start_delay_s):
            return
        while not stop.is_set():
            session = asyncio.create_task(self._session(), name=f"feed {self.feed.name}")
            reason = await until_stopped(session, stop)
            if reason is None:
                break  # stopped while connected
            self._disconnected(reason)
            if await sleep_or_stop(stop, self._retry_delay(reason)):
                break
        self._set_connected(False)

    def _disconnected(self, reason: str) -> None:
        """Count the outage, keep where it began, and say so: every retry logs its attempt number."""
        self._set_connected(False)
        self._sync_metrics()
        self.reconnects += 1
        self.reason = reason
        if reason not in PLANNED:
            self.failures = 0 if self._session_data else self.failures + 1
        metrics.FEED_FAILURES.labels(self.feed.name).set(self.failures)
        metrics.RECONNECTS.labels(self.feed.name, reason).inc()
        if self._outage_from is None:
            self._outage_from = self.last_data_ts or now_us()
            self._outage_reason = reason

    def _retry_delay(self, reason: str) -> float:
        delay = 0.0 if reason in PLANNED else self.backoff.next_delay()
        level = logging.ERROR if self.failures >= 5 else logging.WARNING  # failing for a while: louder
        outage_s = round((now_us() - (self._outage_from or now_us())) / 1e6, 1)
        log.log(level, "feed disconnected, reconnecting", extra={
            "feed": self.feed.name, "reason": reason, "attempt": self.failures, "retry_in_s": round(delay, 2),
            "outage_s": outage_s})
        return delay

    async def _session(self) -> str:
        """One connection, until it fails, goes idle or ages out. Returns why it ended. A client
        session of its own: whatever ends it (cancellation included) closes its one socket."""
        feed = self.feed
        self._session_data = False
        self._ended = None
        try:
            url, messages = await self._opening()
            async with aiohttp.ClientSession(timeout=OPEN_TIMEOUT) as http, http.ws_connect(
                url,
                timeout=CLOSE_TIMEOUT,
                heartbeat=HEARTBEAT_S,
                autoping=True,
                max_msg_size=MAX_FRAME,
                compress=15 if feed.compression else 0,
                decode_text=False,
            ) as ws:
                reason = await self._connected(ws, messages)
                if reason == "idle":
                    # the peer may be gone (half-open): its socket dropped (TLS aborted), no close
                    # handshake to wait for; the socket's own close then has nothing to send
                    await http.close()
                return reason
        except SessionEnded as end:
            log.debug("feed session ended", extra={"feed": feed.name, "reason": end.reason})
            return end.reason
        except aiohttp.ClientConnectionResetError as exc:  # a send on a socket the venue closed
            log.debug("feed closed", extra={"feed": feed.name, "error": repr(exc)})
            return self._ended or "closed"
        except aiohttp.WSServerHandshakeError as exc:  # an HTTP error (429, 5xx, ...) or a bad upgrade
            log.debug("feed refused", extra={"feed": feed.name, "error": repr(exc)})
            return f"http_{exc.status}" if exc.status != 101 else type(exc).__name__
        except (OSError, aiohttp.ClientError, TimeoutError) as exc:
            log.debug("feed connection error", extra={"feed": feed.name, "error": repr(exc)})
            return _failure(exc)

    async def _connected(self, ws: Socket, messages: list[Message]) -> str:
        """Subscribe, then receive with the session's helpers running beside."""
        feed = self.feed
        self.connects += 1
        self._set_connected(True)
        log.info("feed connected", extra={"feed": feed.name, "subscriptions": len(messages)})
        for n, message in enumerate(messages):
            if n and feed.subscribe_pause_s:
                await asyncio.sleep(feed.subscribe_pause_s)
            await _send(ws, message)
        helpers = self._session_tasks(ws)
        if feed.ping_message is not None:
            helpers.append(asyncio.create_task(self._ping(ws)))
        try:
            return await self._receive(ws)
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _opening(self) -> tuple[str, list[Message]]:
        """The url to connect to and the messages to send first: the feed's own (a private socket's
        login makes them anew for every connect)."""
        return self.feed.url, self.feed.subscribe

    def _session_tasks(self, ws: Socket) -> list[asyncio.Task[None]]:
        """Tasks that live as long as the session (a private socket's login renewal)."""
        return []

    async def _receive(self, ws: Socket) -> str:
        """Frames until no data came for idle_timeout_s ("idle"), the socket is too old ("planned"),
        the venue announced it will close it ("notice") or it closed ("closed", or why we closed it).

        One timer per idle period, not per frame: when it fires, the deadline moves to the last
        data frame's time + the idle timeout, or the session ends.
        """
        loop = asyncio.get_running_loop()
        idle = self.feed.idle_timeout_s
        opened = last_data = loop.time()
        age_deadline = float("inf")
        if self.feed.max_age_s is not None:
            age_deadline = opened + self.feed.max_age_s * (1 - PLANNED_JITTER * self._rng.random())
        while True:
            try:
                async with asyncio.timeout_at(min(last_data + idle, age_deadline)):
                    while True:
                        kind, raw, _ = await ws.receive()
                        if kind is not TEXT and kind is not BINARY:  # CLOSE, CLOSING, CLOSED, ERROR
                            return self._closed(ws)
                        if await self._handle(raw, ws):
                            last_data = loop.time()
            except ReconnectNotice as notice:
                log.info("venue notice: reconnecting", extra={"feed": self.feed.name, "notice": str(notice)})
                return "notice"
            except TimeoutError:
                now = loop.time()
                if now >= age_deadline:
                    return "planned"
                if now - last_data >= idle:
                    return "idle"

    async def _handle(self, raw: bytes | str, ws: Socket) -> bool:
        """Parse and publish one frame; True when it carried data (acks, pongs, heartbeats do not)."""
        recv_ts = now_us()
        self.frames += 1
        if not self.frames % METRICS_EVERY:
            self._sync_metrics()
        if self.feed.reply is not None:
            answer = self.feed.reply(raw)
            if answer is not None:
                await _send(ws, answer)
                return False
        try:
            events = self.feed.parse(raw, recv_ts)
        except FrameError as exc:
            self.bad_frames += 1
            log.debug("bad frame skipped", extra={"feed": self.feed.name, "error": str(exc)[:200]})
            return False
        if not events:
            return False
        self.data_frames += 1
        self.last_data_ts = recv_ts
        if not self._session_data:
            self._first_data(recv_ts)
        publish = self.producer.publish
        for event in events:
            publish(event)
        if self.sequencer is not None:
            self.sequencer.observe(events, recv_ts)
        return True

    def _closed(self, ws: Socket) -> str:
        """The socket closed: by the venue, by a dead peer's missing pong, or by a session task."""
        log.debug("feed closed", extra={"feed": self.feed.name, "code": ws.close_code,
                                        "error": repr(ws.exception())})
        return self._ended or "closed"

    def _first_data(self, recv_ts: int) -> None:
        """Data flows again: the outage (if any) becomes a gap record, the backoff starts over."""
        self._session_data = True
        self.failures = 0
        self.backoff.reset()
        metrics.FEED_FAILURES.labels(self.feed.name).set(0)
        metrics.FEED_LAST_DATA.labels(self.feed.name).set(recv_ts / 1e6)
        if self._outage_from is None:
            return
        if self.sequencer is not None:
            self.sequencer.outage_closed(self._outage_reason)
        gap = Gap(
            feed=self.feed.name,
            exchange=exchange_of(self.feed.exchange),
            from_ts=self._outage_from,
            to_ts=recv_ts,
            reason=self._outage_reason,
            # with a sequencer each symbol's missed trades get a gap of their own, judged by backfill
            status="" if self.sequencer is not None or self.feed.private else "unrecoverable",
            ts=recv_ts,
            recv_ts=recv_ts,
        )
        self._outage_from = None
        metrics.GAPS.labels(self.feed.name).inc()
        if not self.producer.publish(gap):
            log.error(
                "gap record dropped by the producer",
                extra={"feed": gap.feed, "from_ts": gap.from_ts, "to_ts": gap.to_ts},
            )
        log.info(
            "feed receiving again",
            extra={
                "feed": gap.feed,
                "gap_s": round((gap.to_ts - gap.from_ts) / 1e6, 3),
                "reason": gap.reason,
            },
        )

    def _sync_metrics(self) -> None:
        """Bring the Prometheus frame counters up to this connection's own counts."""
        counts = (self.frames, self.data_frames, self.bad_frames)
        for counter, now, before in zip(self._counters, counts, self._counted, strict=True):
            if now > before:
                counter.inc(now - before)
        self._counted = counts

    def _set_connected(self, connected: bool) -> None:
        self.connected_since = now_us() if connected else None
        metrics.FEED_CONNECTED.labels(self.feed.name).set(1 if connected else 0)

    async def _ping(self, ws: Socket) -> None:
        assert self.feed.ping_message is not None
        while True:
            await asyncio.sleep(self.feed.ping_interval_s)
            await _send(ws, self.feed.ping_message)

    def status(self) -> FeedStatus:
        """This feed's state for Redis (shared/feed_status.py); it also brings the metrics up to date."""
        self._sync_metrics()
        if self.last_data_ts is not None:
            metrics.FEED_LAST_DATA.labels(self.feed.name).set(self.last_data_ts / 1e6)
        return FeedStatus(
            feed=self.feed.name,
            exchange=exchange_of(self.feed.exchange),
            connected=self.connected_since is not None,
            at=now_us(),
            last_data_ts=self.last_data_ts,
            connected_since=self.connected_since,
            outage_from=self._outage_from,
            reconnects=self.reconnects,
            failures=self.failures,
            reason=self.reason,
            frames=self.frames,
            data_frames=self.data_frames,
            bad_frames=self.bad_frames,
            idle_timeout_s=self.feed.idle_timeout_s,
            private=self.feed.private,
        )


async def _send(ws: Socket, message: Message) -> None:
    """A text frame, whether the exchange module built the message as str or bytes."""
    if isinstance(message, bytes):
        await ws.send_frame(message, TEXT)
    else:
        await ws.send_str(message)


def _failure(exc: BaseException) -> str:
    """Why a connect failed, by the name of its cause: ConnectionRefusedError, gaierror,
    SSLCertVerificationError (under aiohttp's ClientConnectorError), TimeoutError, ..."""
    if isinstance(exc, TimeoutError):
        return "TimeoutError"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return type(exc.os_error).__name__
    return type(exc).__name__
