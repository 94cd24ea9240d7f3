"""The words every venue file and every table built from the registry share: a socket (`Feed`),
how a frame is parsed (`Parse`) and a REST answer fetched (`Fetch`), and the few pure functions
that split a venue's subscriptions into sockets.

This module sits below the venues: it imports nothing from exchanges/, feeds.py or
capabilities.py, so a venue file can build its own sockets without a circle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from services.receivers.rest import VenueClient
from shared.settings import WebsocketSettings
from shared.events import AnyEvent

T = TypeVar("T")
Parse = Callable[[bytes | str, int], list[AnyEvent]]  # one frame + its receive time -> events
Message = str | bytes  # bytes are sent as text frames: every venue here speaks JSON text
Reply = Callable[[bytes | str], Message | None]  # a frame -> the answer it asks for, if any
Fetch = Callable[[VenueClient, Sequence[str]], Awaitable[list[AnyEvent]]]  # (client, assets) -> events
Item = tuple[str, T]  # (channel, what to subscribe for it)


@dataclass(frozen=True)
class Feed:
    """Everything a connection needs to know about one socket of one exchange."""

    name: str  # e.g. "binance:0", "okx:business:0"
    exchange: str  # the registry name: binance, binance_spot, bybit, bybit_spot, okx, hyperliquid, deribit
    url: str
    parse: Parse
    subscribe: list[Message] = field(default_factory=list)  # sent after every connect, in order
    channels: tuple[str, ...] = ()  # what the subscriptions carry (trades, candles, ...), for status and docs
    idle_timeout_s: float = 30.0  # no DATA frame for this long -> reconnect
    max_age_s: float | None = None  # reconnect before the exchange's forced disconnect
    ping_message: Message | None = None  # application-level ping (Bybit, OKX, Hyperliquid)
    ping_interval_s: float = 20.0
    reply: Reply | None = None  # e.g. Deribit's test_request -> public/test
    subscribe_pause_s: float = 0.0  # between subscribe messages, for venues that limit messages per second
    start_delay_s: float = 0.0  # stagger the first connects of one venue (connections per second limits)


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """items in runs of at most `size`: the subscriptions of one socket each."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def idle_timeout(settings: WebsocketSettings, channels: Iterable[str]) -> float:
    """The shortest idle timeout of a socket's channels: data on any of them proves it alive."""
    default, by_channel = settings.idle_timeout_s, settings.idle_timeout_by_channel
    return min((by_channel.get(c, default) for c in channels), default=default)


def channels_of(part: Iterable[Item[object]]) -> tuple[str, ...]:
    """The channels a socket's subscriptions carry, sorted, each once."""
    return tuple(sorted({channel for channel, _ in part}))
