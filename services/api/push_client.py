"""One WebSocket push client: its subscriptions (topic + exchange/symbol/min_usd filters) and
its bounded outgoing queue. No I/O here: the hub offers messages without ever waiting, the
client's own writer task takes them.

Drop policy: when the queue is full the OLDEST queued message is dropped (for live market
data the newest is worth most). The client then gets {"type":"notice","dropped":N} just
before the first message after the gap, so it knows where and how much it missed.
"""
from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from shared import metrics
from shared.events import Candle, Event, LargeTrade, Liquidation, Spike, Trade, json_encoder
from shared.usd import usd_value

Topic = Literal["trades", "candles", "liquidations", "large_trades", "spikes"]
TOPIC_OF: dict[type[Event], str] = {
    Trade: "trades", Candle: "candles", Liquidation: "liquidations", LargeTrade: "large_trades",
    Spike: "spikes",
}
USD_TOPICS = frozenset({"trades", "liquidations", "large_trades"})  # events with a USD value
MAX_REPLIES = 100  # answers a client has not read yet; a client flooding requests is cut off
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
SubKey = tuple[str, str | None, str | None]  # (topic, exchange, symbol)


class PushRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """{"op":"subscribe","topic":"trades","exchange":"binance","symbol":"BTC-USDT-PERP","min_usd":"10000"}"""

    op: Literal["subscribe", "unsubscribe"]
    topic: Topic
    exchange: Name | None = None
    symbol: Name | None = None
    min_usd: Decimal | None = None  # a string (exact) or a number


_requests = msgspec.json.Decoder(PushRequest)


class RequestError(ValueError):
    """A client's request is invalid; the message is sent back to it."""


def parse_request(text: str | bytes) -> PushRequest:
    try:
        request = _requests.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RequestError(str(exc)) from None
    if request.min_usd is not None:
        if not request.min_usd.is_finite() or request.min_usd < 0:
            raise RequestError("min_usd must be a finite number >= 0")
        if request.topic not in USD_TOPICS:
            raise RequestError(f"min_usd applies to {', '.join(sorted(USD_TOPICS))}, not {request.topic}")
    return request


def event_usd(event: Event) -> Decimal | None:
    """The USD value a min_usd filter compares: price*size of USD-quoted trades, else the event's own."""
    if isinstance(event, Trade):
        return usd_value(event.symbol, event.price, event.size)
    return getattr(event, "usd_value", None)


@dataclass(frozen=True)
class Subscription:
    topic: str
    exchange: str | None
    symbol: str | None
    min_usd: Decimal | None

    def matches(self, event: Event, usd: Decimal | None) -> bool:
        if self.exchange is not None and getattr(event, "exchange", None) != self.exchange:
            return False
        if self.symbol is not None and getattr(event, "symbol", None) != self.symbol:
            return False
        return self.min_usd is None or (usd is not None and usd >= self.min_usd)


def event_message(topic: str, event: Event) -> str:
    """Encoded once per event, shared by every client that wants it."""
    return f'{{"type":"event","topic":"{topic}","data":{json_encoder.encode(event).decode()}}}'


def control_message(kind: str, **fields: object) -> str:
    return json_encoder.encode({"type": kind, **fields}).decode()


class PushClient:
    """Subscriptions and a bounded queue; `offer` never waits, `next_message` is the writer's."""

    def __init__(self, queue_size: int, max_subscriptions: int = 100) -> None:
        self.queue_size = queue_size
        self.max_subscriptions = max_subscriptions
        self.subscriptions: dict[SubKey, Subscription] = {}
        self.topics: frozenset[str] = frozenset()
        self.dropped = 0  # not yet told to the client
        self.dropped_total = 0
        self._queue: deque[str] = deque()
        self._replies: deque[str] = deque()  # answers to the client's requests: never dropped
        self._ready = asyncio.Event()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def wants(self, topic: str, event: Event, usd: Decimal | None) -> bool:
        return any(s.topic == topic and s.matches(event, usd) for s in self.subscriptions.values())

    def offer(self, message: str) -> None:
        """Queue a pushed message; a full queue drops its oldest message (counted, then noticed)."""
        if len(self._queue) >= self.queue_size:
            self._queue.popleft()
            self.dropped += 1
            self.dropped_total += 1
            metrics.PUSH_DROPPED.inc()
        self._queue.append(message)
        self._ready.set()

    def reply(self, message: str) -> None:
        if len(self._replies) >= MAX_REPLIES:
            raise RequestError("too many unread replies")
        self._replies.append(message)
        self._ready.set()

    async def next_message(self) -> str:
        """Replies first, then the drop notice (where the gap is), then queued messages in order."""
        while True:
            if self._replies:
                return self._replies.popleft()
            if self.dropped:
                dropped, self.dropped = self.dropped, 0
                return control_message("notice", dropped=dropped)
            if self._queue:
                return self._queue.popleft()
            self._ready.clear()
            await self._ready.wait()

    def subscribe(self, request: PushRequest) -> Subscription:
        key = (request.topic, request.exchange, request.symbol)
        if key not in self.subscriptions and len(self.subscriptions) >= self.max_subscriptions:
            raise RequestError(f"at most {self.max_subscriptions} subscriptions per connection")
        subscription = Subscription(request.topic, request.exchange, request.symbol, request.min_usd)
        self.subscriptions[key] = subscription  # the same topic+exchange+symbol again replaces its min_usd
        self.topics = frozenset(s.topic for s in self.subscriptions.values())
        return subscription

    def unsubscribe(self, request: PushRequest) -> int:
        """Remove the topic's subscriptions that match the given exchange/symbol (all when omitted)."""
        gone = [key for key in self.subscriptions if key[0] == request.topic
                and request.exchange in (None, key[1]) and request.symbol in (None, key[2])]
        for key in gone:
            del self.subscriptions[key]
        self.topics = frozenset(s.topic for s in self.subscriptions.values())
        return len(gone)
