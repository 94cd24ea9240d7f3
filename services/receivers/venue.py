"""The words every venue file and every table built from the registry share: a socket (`Feed`),
how a frame is parsed (`Parse`) and a REST answer fetched (`Fetch`), the record each venue
declares itself with (`Venue`), and the few pure functions a socket plan is made of.

This module sits below the venues: it imports nothing from exchanges/, feeds.py or
capabilities.py, so a venue file can build its own sockets without a circle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from services.receivers.rest import VenueClient
from shared.events import AnyEvent
from shared.settings import Settings, WebsocketSettings

if TYPE_CHECKING:  # private.py builds on this module's words
    from services.receivers.private import AccountApi

T = TypeVar("T")
Parse = Callable[[bytes | str, int], list[AnyEvent]]  # one frame + its receive time -> events
Message = str | bytes  # bytes are sent as text frames: every venue here speaks JSON text
Reply = Callable[[bytes | str], Message | None]  # a frame -> the answer it asks for, if any
Fetch = Callable[[VenueClient, Sequence[str]], Awaitable[list[AnyEvent]]]  # (client, assets) -> events
Item = tuple[str, T]  # (channel, what to subscribe for it)
Facts = Mapping[str, Decimal]  # a venue's facts table: instrument -> value (ctVal, funding hours)
NO_FACTS: Facts = MappingProxyType({})
PLANNED_MARGIN_S = 600  # reconnect this long before a venue's forced disconnect


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
    private: bool = False  # one account's private socket (services/receivers/accounts/)
    compression: bool = False  # offer permessage-deflate (settings.websockets.compression)


# --- the record: one per venue (and one more for a venue's spot market), plain data ---


@dataclass(frozen=True)
class Limits:
    """What the venue's connect pages allow, and the pace we keep under it."""

    streams_per_socket: int = 0  # subscriptions one socket carries; 0: the plan splits another way
    max_connection_age_s: float | None = None  # the venue closes older sockets: reconnect before
    connects_per_s: float | None = None  # new sockets per second per IP
    messages_per_minute: float | None = None  # messages we may send per minute per IP
    connect_spacing_s: float = 0.0  # between this venue's first connects, under connects_per_s
    message_spacing_s: float = 0.0  # between subscribe messages, under messages_per_minute


@dataclass(frozen=True)
class Keepalive:
    """How a socket stays open beyond websocket pings: our ping, or answers to the venue's."""

    message: Message | None = None  # sent every interval_s
    interval_s: float = 20.0  # our ping's period, or the heartbeat we ask the venue for (Deribit)
    reply: Reply | None = None  # frames the venue wants answered, e.g. Deribit's test_request


@dataclass(frozen=True)
class RestApi:
    """Where the venue's REST API lives and how much it lets us ask."""

    base_url: str  # venues.urls["<name>_rest"] overrides it (the simulator in a demo)
    weight_per_minute: int  # request weight per minute per IP, in the venue's own unit
    key_header: str = ""  # how an API key (venues.api_keys[name]) is sent; "" = the venue takes none
    key_prefix: str = ""
    # the venue counts weight over a rolling window of this many seconds (Hyperliquid: a minute):
    # its client spends from that window, whose lanes split it (the trader tracker's share);
    # None: a token bucket of rest.weight_fraction of the weight per minute
    window_s: float | None = None


def _no_pins(settings: Settings) -> Facts:
    return NO_FACTS


def _nothing_expected(settings: Settings) -> Sequence[str]:
    return ()


@dataclass(frozen=True)
class FactTable:
    """A table of venue facts only a REST call answers, read by the venue's parser and kept fresh
    by services/receivers/instruments.py while its sockets run."""

    what: str  # for the logs: "okx contract values"
    fetch: Callable[[VenueClient], Awaitable[dict[str, Decimal]]]  # through the venue's own REST client
    defaults: Facts = field(default_factory=dict)  # built in: they serve until a load succeeds
    pinned: Callable[[Settings], Facts] = _no_pins  # the user's values: they win over the venue's
    expected: Callable[[Settings], Sequence[str]] = _nothing_expected  # keys the configured sockets need


@dataclass(frozen=True)
class Venue:
    """Everything tradehub knows about one venue, declared once in the venue's own file.

    `name` is the registry's name (feeds, REST client, settings section, metrics); `exchange` the
    label on the venue's events. A venue's second market (Binance spot) is a second record whose
    name says the market (binance_spot) while its exchange stays the venue's (binance).
    """

    name: str
    exchange: str
    market: str = ""  # "spot" on a venue's second record; "" when the name is the venue
    ws_urls: Mapping[str, str] = field(default_factory=dict)  # venues.urls key -> default socket url
    limits: Limits = Limits()
    keepalive: Keepalive = Keepalive()
    # settings -> sockets, each parsing with the parse it is given
    plan: Callable[[Venue, Settings, Parse], list[Feed]] | None = None
    parser: Callable[[Facts], Parse] | None = None  # the parse, bound to the venue's facts table
    rest: RestApi | None = None
    # REST function (funding, spot, oi) -> fetch(client, assets, **fetch_options(settings)) -> events
    fetchers: Mapping[str, Callable[..., Awaitable[list[AnyEvent]]]] = field(default_factory=dict)
    # the venue's settings bound into every fetcher as keyword arguments (Jupiter's mints, Pyth's feeds)
    fetch_options: Callable[[Settings], Mapping[str, object]] | None = None
    facts: FactTable | None = None
    account: AccountApi | None = None  # the private side: the user's accounts (exchanges/<venue>/account.py)

    @property
    def label(self) -> str:
        """How people see the record: "binance", or "binance (spot)" for a venue's second market."""
        return f"{self.exchange} ({self.market})" if self.market else self.exchange


def facts_free(parse: Parse) -> Callable[[Facts], Parse]:
    """The parser of a venue that reads no facts table: the same parse whatever the table."""
    return lambda facts: parse


# --- the pieces a socket plan is made of ---


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


def ws_url(venue: Venue, settings: Settings, key: str = "") -> str:
    """venues.urls[key] (the simulator in a demo), else the venue's own url for that endpoint."""
    key = key or venue.name
    return settings.venues.urls.get(key, venue.ws_urls[key])


def socket(venue: Venue, settings: Settings, name: str, url: str, parse: Parse, channels: tuple[str, ...],
           subscribe: Sequence[Message] = (), start_delay_s: float = 0.0) -> Feed:
    """One socket of a venue: its keepalive, its pace, a planned reconnect before the venue's forced
    disconnect, and the idle timeout of its channels."""
    limits, keepalive = venue.limits, venue.keepalive
    age = limits.max_connection_age_s
    return Feed(
        name=f"{venue.name}:{name}", exchange=venue.name, url=url, parse=parse, subscribe=list(subscribe),
        channels=channels, idle_timeout_s=idle_timeout(settings.websockets, channels),
        max_age_s=None if age is None else age - PLANNED_MARGIN_S, ping_message=keepalive.message,
        ping_interval_s=keepalive.interval_s, reply=keepalive.reply,
        subscribe_pause_s=limits.message_spacing_s, start_delay_s=start_delay_s,
        compression=settings.websockets.compression,
    )
