"""One websocket connection class for every exchange: keepalive, idle detection on
DATA frames, planned reconnect before the exchange's forced disconnect, backoff with
full jitter that never gives up, resubscribe, and a gap record for every outage."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import websockets
from websockets.exceptions import WebSocketException

from services.receivers.frames import FrameError
from shared import metrics
from shared.backoff import Backoff
from shared.events import AnyEvent, Gap, now_us
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
Parse = Callable[[bytes | str, int], list[AnyEvent]]


@dataclass(frozen=True)
class Feed:
    """Everything a connection needs to know about one socket of one exchange."""

    name: str  # e.g. "binance:aggTrade:0"
    exchange: str
    url: str
    parse: Parse
    subscribe: list[str] = field(default_factory=list)  # text frames sent after connecting
    idle_timeout_s: float = 30.0  # no DATA frame for this long -> reconnect
    max_age_s: float | None = None  # reconnect before the exchange's forced disconnect
    ping_message: str | None = None  # application-level ping (Bybit, OKX, Hyperliquid)
    ping_interval_s: float = 20.0
    reply: Callable[[bytes | str], str | None] | None = None  # e.g. Deribit's test_request


class FeedConnection:
    """Keeps one feed connected forever and publishes what it parses."""

    def __init__(self, feed: Feed, producer: StreamProducer, backoff_max_s: float = 30.0) -> None:
        self.feed = feed
        self.producer = producer
        self.backoff = Backoff(base=0.5, cap=backoff_max_s)
        self.frames = 0
        self.bad_frames = 0
        self.connects = 0
        self._last_data_ts: int | None = None
        self._outage_from: int | None = None  # recv time of the last data before an outage

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            reason = await self._session(stop)
            if stop.is_set():
                break
            if self._outage_from is None:
                self._outage_from = self._last_data_ts or now_us()
            metrics.FEED_CONNECTED.labels(self.feed.name).set(0)
            metrics.RECONNECTS.labels(self.feed.name, reason).inc()
            delay = 0.0 if reason == "planned" else self.backoff.next_delay()
            log.warning("feed disconnected", extra={"feed": self.feed.name, "reason": reason, "retry_in_s": round(delay, 2)})
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass

    async def _session(self, stop: asyncio.Event) -> str:
        """One connection, until it fails, goes idle, ages out, or we stop. Returns why it ended."""
        feed = self.feed
        try:
            async with websockets.connect(feed.url, open_timeout=10, ping_interval=20, ping_timeout=20,
                                          close_timeout=2, max_size=2**23, max_queue=1024) as ws:
                self.connects += 1
                for message in feed.subscribe:
                    await ws.send(message)
                metrics.FEED_CONNECTED.labels(feed.name).set(1)
                log.info("feed connected", extra={"feed": feed.name, "subscriptions": len(feed.subscribe)})
                pinger = asyncio.create_task(self._ping(ws)) if feed.ping_message else None
                try:
                    return await self._receive(ws, stop)
                finally:
                    if pinger:
                        pinger.cancel()
                        await asyncio.gather(pinger, return_exceptions=True)
        except (OSError, WebSocketException, TimeoutError) as exc:
            log.debug("feed connection error", extra={"feed": feed.name, "error": repr(exc)})
            return type(exc).__name__

    async def _receive(self, ws: websockets.ClientConnection, stop: asyncio.Event) -> str:
        feed = self.feed
        opened = time.monotonic()
        last_data = time.monotonic()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                now = time.monotonic()
                wait = feed.idle_timeout_s - (now - last_data)
                if feed.max_age_s is not None:
                    wait = min(wait, feed.max_age_s - (now - opened))
                if wait <= 0:
                    return "idle" if now - last_data >= feed.idle_timeout_s else "planned"
                receiving = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({receiving, stopping}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                if stopping in done:
                    receiving.cancel()
                    return "stop"
                if receiving not in done:
                    receiving.cancel()
                    continue  # the loop head decides idle or planned
                raw = receiving.result()
                if await self._handle(raw, ws):
                    last_data = time.monotonic()
        finally:
            stopping.cancel()

    async def _handle(self, raw: bytes | str, ws: websockets.ClientConnection) -> bool:
        """Parse and publish one frame; True when it carried data (acks and pongs do not)."""
        recv_ts = now_us()
        self.frames += 1
        metrics.FRAMES.labels(self.feed.name).inc()
        if self.feed.reply is not None:
            answer = self.feed.reply(raw)
            if answer is not None:
                await ws.send(answer)
                return False
        try:
            events = self.feed.parse(raw, recv_ts)
        except FrameError as exc:
            self.bad_frames += 1
            metrics.BAD_FRAMES.labels(self.feed.name).inc()
            log.debug("bad frame skipped", extra={"feed": self.feed.name, "error": str(exc)[:200]})
            return False
        if not events:
            return False
        if self._outage_from is not None:
            self.producer.publish(Gap(feed=self.feed.name, exchange=self.feed.exchange, from_ts=self._outage_from,
                                      to_ts=recv_ts, ts=recv_ts, recv_ts=recv_ts))
            self._outage_from = None
        self._last_data_ts = recv_ts
        self.backoff.reset()
        for event in events:
            self.producer.publish(event)
        return True

    async def _ping(self, ws: websockets.ClientConnection) -> None:
        assert self.feed.ping_message is not None
        while True:
            await asyncio.sleep(self.feed.ping_interval_s)
            await ws.send(self.feed.ping_message)
