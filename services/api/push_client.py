"""One WebSocket push client: its subscriptions (topic + exchange/symbol/min_usd filters, for
`positions` also address/coin/kinds, for `account` also account), the scopes its API key opened
and its bounded outgoing queue. No I/O here: the hub offers messages without ever waiting, the
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

from services.api.accounts import AccountId
from services.api.api_keys import ACCOUNT_READ, MARKET
from services.api.params import ADDRESS_PATTERN
from shared import metrics
from shared.events import (
    AccountFill,
    AccountOrder,
    Alert,
    Balance,
    Candle,
    ChangeKind,
    Event,
    LargeTrade,
    Liquidation,
    Position,
    PositionChange,
    Spike,
    Trade,
    json_encoder,
)
from shared.usd import usd_value

Topic = Literal["trades", "candles", "liquidations", "large_trades", "spikes", "positions", "account",
                "alerts"]
# Only PositionChange is pushed from th:positions: the trader states, fills and equity curves
# beside it there are the processor's input, not news.
TOPIC_OF: dict[type[Event], str] = {
    Trade: "trades", Candle: "candles", Liquidation: "liquidations", LargeTrade: "large_trades",
    Spike: "spikes", PositionChange: "positions",
    # the user's own accounts (th:account); their reconciliation snapshots are the processor's input
    AccountOrder: "account", AccountFill: "account", Balance: "account", Position: "account",
    Alert: "alerts",  # only the user's alert rules' firings (RULES_SOURCE): what /api/v1/alerts lists
}
# The `source` of the Alerts the processor's rules group fires (services/processor/rules_group.py SOURCE,
# which the API may not import; tests/api/test_alerts_push.py keeps the two equal). The other Alerts on
# th:alerts (a feed down, an account's auth failing) are the operator's, for Telegram.
RULES_SOURCE = "rules"
# topic -> the API key scope subscribing needs; MARKET: any valid key, as GET /api/v1/alerts
PRIVATE_TOPICS = {"account": ACCOUNT_READ, "alerts": MARKET}
NO_KEY = "no key given (Authorization: Bearer <key>, X-API-Key or ?api_key=)"
USD_TOPICS = frozenset({"trades", "liquidations", "large_trades", "positions"})  # events with a USD value
TRADER_FILTERS = ("address", "coin", "kinds")  # filters of the positions topic only
MAX_REPLIES = 100  # answers a client has not read yet; a client flooding requests is cut off
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Address = Annotated[str, msgspec.Meta(pattern=ADDRESS_PATTERN)]
Kinds = Annotated[tuple[ChangeKind, ...], msgspec.Meta(min_length=1)]
# (topic, exchange, symbol), for positions (.., address, coin), for account (.., account)
SubKey = tuple[str | None, ...]


class PushRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """{"op":"subscribe","topic":"trades","exchange":"binance","symbol":"BTC-USDT-PERP","min_usd":"10000"}
    {"op":"subscribe","topic":"positions","address":"0x..","coin":"BTC","min_usd":"50000","kinds":["flip"]}
    {"op":"subscribe","topic":"account","account":"main"}"""

    op: Literal["subscribe", "unsubscribe"]
    topic: Topic
    exchange: Name | None = None
    symbol: Name | None = None
    min_usd: Decimal | None = None  # a string (exact) or a number; positions: the position value
    address: Address | None = None  # positions: the trader (any case)
    coin: Name | None = None  # positions: a coin (BTC) or a normalized symbol (BTC-USD-PERP)
    kinds: Kinds | None = None  # positions: the change kinds wanted (open, close, increase, decrease, flip)
    account: AccountId | None = None  # account: one of the user's accounts (its id)

    def key(self) -> SubKey:
        if self.topic == "positions":
            return self.topic, self.exchange, self.symbol, self.address, self.coin
        if self.topic == "account":
            return self.topic, self.exchange, self.symbol, self.account
        return self.topic, self.exchange, self.symbol

    def filters(self) -> dict[str, object]:
        """The filters a reply repeats: the trader filters only where they apply."""
        shown: dict[str, object] = {"topic": self.topic, "exchange": self.exchange, "symbol": self.symbol}
        if self.topic == "positions":
            shown.update(address=self.address, coin=self.coin)
        if self.topic == "account":
            shown.update(account=self.account)
        return shown


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
    if request.account is not None and request.topic != "account":
        raise RequestError(f"account applies to account, not {request.topic}")
    if request.topic != "positions":
        given = [name for name in TRADER_FILTERS if getattr(request, name) is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise RequestError(f"{', '.join(given)} {verb} to positions, not {request.topic}")
        return request
    # addresses are stored lower case, symbols upper case
    address = None if request.address is None else request.address.lower()
    return msgspec.structs.replace(request, address=address, coin=request.coin and request.coin.upper())


def topic_of(event: Event) -> str | None:
    """The topic an event is pushed on, None when it is not pushed."""
    if isinstance(event, Alert) and event.source != RULES_SOURCE:
        return None
    return TOPIC_OF.get(type(event))


def event_usd(event: Event) -> Decimal | None:
    """The USD value a min_usd filter compares: price*size of USD-quoted trades, else the event's own."""
    if isinstance(event, Trade):
        return usd_value(event.symbol, event.price, event.size)
    if isinstance(event, PositionChange):
        return None if event.position_value is None else abs(event.position_value)
    return getattr(event, "usd_value", None)


def coin_matches(symbol: str, coin: str) -> bool:
    """BTC matches every BTC market (BTC-USD-PERP, ...); a symbol with a dash only itself."""
    return symbol == coin if "-" in coin else symbol.partition("-")[0] == coin


@dataclass(frozen=True)
class Subscription:
    topic: str
    exchange: str | None
    symbol: str | None
    min_usd: Decimal | None
    address: str | None = None
    coin: str | None = None
    kinds: frozenset[str] | None = None
    account: str | None = None

    def matches(self, event: Event, usd: Decimal | None) -> bool:
        if self.account is not None and getattr(event, "account", None) != self.account:
            return False
        if self.exchange is not None and getattr(event, "exchange", None) != self.exchange:
            return False
        if self.symbol is not None and getattr(event, "symbol", None) != self.symbol:
            return False
        if isinstance(event, PositionChange) and not self.matches_change(event):
            return False
        return self.min_usd is None or (usd is not None and usd >= self.min_usd)

    def matches_change(self, change: PositionChange) -> bool:
        return ((self.address is None or change.account == self.address)
                and (self.coin is None or coin_matches(change.symbol, self.coin))
                and (self.kinds is None or change.change in self.kinds))


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
        self.scopes: frozenset[str] = frozenset()  # what the socket's API key opened
        self.refusal = NO_KEY  # why a private topic is refused (set from the upgrade request)
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

    def grant(self, scopes: frozenset[str]) -> None:
        self.scopes = scopes

    def deny(self, reason: str) -> int:
        """The key no longer opens private topics (revoked): their subscriptions end; how many."""
        self.scopes, self.refusal = frozenset(), reason
        gone = [key for key, sub in self.subscriptions.items() if sub.topic in PRIVATE_TOPICS]
        for key in gone:
            del self.subscriptions[key]
        self.topics = frozenset(s.topic for s in self.subscriptions.values())
        return len(gone)

    def subscribe(self, request: PushRequest) -> Subscription:
        scope = PRIVATE_TOPICS.get(request.topic)
        if scope is not None and scope not in self.scopes:
            needed = "an API key" if scope == MARKET else f"an API key with {scope}"
            raise RequestError(f"{request.topic} needs {needed} on the /ws request: {self.refusal}")
        key = request.key()
        if key not in self.subscriptions and len(self.subscriptions) >= self.max_subscriptions:
            raise RequestError(f"at most {self.max_subscriptions} subscriptions per connection")
        subscription = Subscription(request.topic, request.exchange, request.symbol, request.min_usd,
                                    request.address, request.coin,
                                    None if request.kinds is None else frozenset(request.kinds),
                                    request.account)
        self.subscriptions[key] = subscription  # the same key again replaces its min_usd (and kinds)
        self.topics = frozenset(s.topic for s in self.subscriptions.values())
        return subscription

    def unsubscribe(self, request: PushRequest) -> int:
        """Remove the topic's subscriptions that match the given filters (all when omitted)."""
        wanted = request.key()
        gone = [key for key in self.subscriptions if key[0] == request.topic
                and all(want in (None, have) for want, have in zip(wanted[1:], key[1:], strict=True))]
        for key in gone:
            del self.subscriptions[key]
        self.topics = frozenset(s.topic for s in self.subscriptions.values())
        return len(gone)
