"""Which sockets to open, from the settings: venue -> feeds (one Feed per socket).

One small builder per venue, here rather than in the exchange files: those stay pure (wire
formats, subscribe builders, parse functions, REST) while this file decides the I/O shape of a
deployment: which channels, how they are split across sockets at each venue's per-connection
limit, the keepalive, the idle timeout and the planned reconnect of each socket.

Channels use the same words on every venue (trades, candles, funding, liquidations, prices);
a socket carries the channels of a few symbols, and its idle timeout is the shortest of its
channels' (a quiet liquidation stream sharing a socket with trades never looks idle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import partial

from services.receivers.exchanges import binance, bybit, deribit, hyperliquid, okx
from services.receivers.venue import Feed, Item, channels_of, chunks, idle_timeout
from shared.config import ConfigError, Settings

PLANNED_MARGIN_S = 600  # reconnect this long before a venue's forced disconnect
# No per-connection limit is documented for these; a conservative split keeps a resubscribe small.
OKX_ARGS_PER_CONNECTION = 300
DERIBIT_CHANNELS_PER_CONNECTION = 300
OKX_CONNECT_SPACING_S = 0.4  # "Connection limit: 3 requests per second (based on IP)"
HYPERLIQUID_MESSAGE_SPACING_S = 0.035  # 2000 messages a minute per IP (api/rate-limits)

BINANCE_STREAMS: dict[str, Callable[[Iterable[str]], list[str]]] = {
    "trades": binance.agg_trade_streams,
    "candles": binance.kline_streams,
    "funding": binance.mark_price_streams,
    "liquidations": binance.force_order_streams,
}
BINANCE_SPOT_STREAMS: dict[str, Callable[[Iterable[str]], list[str]]] = {"trades": binance.spot_trade_streams}
BYBIT_TOPICS = {
    "trades": "publicTrade",
    "candles": "kline.1",
    "funding": "tickers",
    "prices": "tickers",
    "liquidations": "allLiquidation",
}
HYPERLIQUID_SUBSCRIPTIONS: dict[str, Callable[[str], bytes]] = {
    "trades": hyperliquid.trades_subscription,
    "candles": hyperliquid.candle_subscription,
    "funding": hyperliquid.active_asset_ctx_subscription,
}


def _binance(
    settings: Settings,
    venue: str,
    symbols: list[str],
    channels: Sequence[str],
    streams_of: dict[str, Callable[[Iterable[str]], list[str]]],
    all_market: dict[str, str],
    funding_hours: Mapping[str, Decimal] | None = None,
) -> list[Feed]:
    """Combined streams in the url, at most MAX_STREAMS_PER_CONNECTION each; no subscribe messages."""
    module = binance if venue == "binance" else binance.spot
    items: list[Item[str]] = [
        (c, stream)
        for symbol in symbols
        for c in channels
        if c not in all_market
        for stream in streams_of[c]([symbol])
    ]
    items += [(c, stream) for c, stream in all_market.items() if c in channels]
    base = settings.venues.urls.get(venue, module.WS_URL)
    parse = binance.parse_frame if venue == "binance" else binance.parse_frame_spot
    if venue == "binance" and funding_hours is not None:
        parse = binance.futures_parser(funding_hours)
    return [
        Feed(
            name=f"{venue}:{n}",
            exchange=venue,
            url=binance.combined_stream_url(base, [s for _, s in part]),
            parse=parse,
            channels=channels_of(part),
            idle_timeout_s=idle_timeout(settings.websockets, channels_of(part)),
            max_age_s=module.MAX_CONNECTION_AGE_S - PLANNED_MARGIN_S,
        )  # "only valid for 24 hours"
        for n, part in enumerate(chunks(items, module.MAX_STREAMS_PER_CONNECTION))
    ]


def binance_feeds(settings: Settings, funding_hours: Mapping[str, Decimal] | None = None) -> list[Feed]:
    """USD-M: aggTrade, kline_1m, markPrice@1s, forceOrder; or every perpetual's funding and liquidations.
    funding_hours: symbol -> funding interval the parse reads (8 h for a symbol absent from it)."""
    all_market = binance.ALL_MARKET_STREAMS if settings.venues.binance.all_market else {}
    return _binance(
        settings, "binance", settings.venues.binance.symbols, settings.venues.binance.channels, BINANCE_STREAMS, all_market,
        funding_hours,
    )


def binance_spot_feeds(settings: Settings) -> list[Feed]:
    return _binance(
        settings,
        "binance_spot",
        settings.venues.binance_spot.symbols,
        settings.venues.binance_spot.channels,
        BINANCE_SPOT_STREAMS,
        {},
    )


def _bybit(settings: Settings, venue: str, symbols: list[str], channels: Sequence[str],
           funding_hours: Mapping[str, Decimal] | None = None) -> list[Feed]:
    """Topics split so no socket's args pass 21,000 characters; spot subscribes 10 args a request."""
    module = bybit if venue == "bybit" else bybit.spot
    parse = module.parse_frame
    if venue == "bybit" and funding_hours is not None:
        parse = partial(bybit.parse_frame_linear, funding_hours=funding_hours)
    category: bybit.Category = "linear" if venue == "bybit" else "spot"
    channel_of = {f"{BYBIT_TOPICS[c]}.{s.upper()}": c for s in symbols for c in channels}
    url = settings.venues.urls.get(venue, module.WS_URL)
    feeds = []
    for n, topics in enumerate(bybit.connections(channel_of)):
        channels_here = tuple(sorted({channel_of[t] for t in topics}))
        feeds.append(
            Feed(
                name=f"{venue}:{n}",
                exchange=venue,
                url=url,
                parse=parse,
                subscribe=list(bybit.subscribe_requests(topics, category)),
                channels=channels_here,
                idle_timeout_s=idle_timeout(settings.websockets, channels_here),
                ping_message=bybit.PING,
                ping_interval_s=bybit.PING_INTERVAL_S,
            )
        )  # "send the ping heartbeat packet every 20 seconds"
    return feeds


def bybit_feeds(settings: Settings, funding_hours: Mapping[str, Decimal] | None = None) -> list[Feed]:
    return _bybit(settings, "bybit", settings.venues.bybit.symbols, settings.venues.bybit.channels, funding_hours)


def bybit_spot_feeds(settings: Settings) -> list[Feed]:
    return _bybit(settings, "bybit_spot", settings.venues.bybit_spot.symbols, settings.venues.bybit_spot.channels)


def okx_contract_values(settings: Settings) -> dict[str, Decimal]:
    """okx.CT_VAL plus okx_contract_values: a swap without ctVal would be off by orders of magnitude."""
    table = dict(okx.CT_VAL)
    for inst_id, text in settings.venues.okx.contract_values.items():
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise ConfigError(f"okx_contract_values[{inst_id}] is not a number: {text!r}") from exc
        if not value.is_finite() or value <= 0:
            raise ConfigError(f"okx_contract_values[{inst_id}] must be a positive number, got {text!r}")
        table[inst_id] = value
    return table


def okx_feeds(settings: Settings, contract_values: okx.CtVal | None = None) -> list[Feed]:
    """/public: trades, funding-rate + open-interest (swaps), liquidation-orders (every swap);
    /business: candles. contract_values: the ctVal table the parse reads (the receivers fill it
    from the venue's instrument list); the built-in one plus okx_contract_values by default."""
    ids, channels = settings.venues.okx.symbols, settings.venues.okx.channels
    swaps = [i for i in ids if i.endswith("-SWAP")]
    public: list[Item[dict[str, str]]] = []
    for inst_id in ids:
        if "trades" in channels:
            public.append(("trades", {"channel": "trades", "instId": inst_id}))
        if "funding" in channels and inst_id in swaps:
            public += [
                ("funding", {"channel": name, "instId": inst_id})
                for name in ("funding-rate", "open-interest")
            ]
    if "liquidations" in channels and swaps:
        public.append(("liquidations", {"channel": "liquidation-orders", "instType": "SWAP"}))
    business: list[Item[dict[str, str]]] = [
        ("candles", {"channel": "candle1m", "instId": i}) for i in ids if "candles" in channels
    ]
    table = okx_contract_values(settings) if contract_values is None else contract_values
    parse = partial(okx.parse_frame, ct_val=table)
    feeds = []
    for endpoint, items, default_url in (
        ("public", public, okx.WS_URL),
        ("business", business, okx.BUSINESS_WS_URL),
    ):
        url = settings.venues.urls.get("okx" if endpoint == "public" else "okx_business", default_url)
        for n, part in enumerate(chunks(items, OKX_ARGS_PER_CONNECTION)):
            feeds.append(
                Feed(
                    name=f"okx:{endpoint}:{n}",
                    exchange="okx",
                    url=url,
                    parse=parse,
                    subscribe=list(okx.subscribe_requests([arg for _, arg in part])),
                    channels=channels_of(part),
                    idle_timeout_s=idle_timeout(settings.websockets, channels_of(part)),
                    ping_message=okx.PING,
                    ping_interval_s=okx.PING_INTERVAL_S,
                    start_delay_s=len(feeds) * OKX_CONNECT_SPACING_S,
                )
            )
    return feeds


def hyperliquid_feeds(settings: Settings) -> list[Feed]:
    """One subscribe message per coin and channel; {"method":"ping"} keeps a quiet socket open."""
    items: list[Item[bytes]] = [
        (c, HYPERLIQUID_SUBSCRIPTIONS[c](coin))
        for coin in settings.venues.hyperliquid.symbols
        for c in settings.venues.hyperliquid.channels
    ]
    url = settings.venues.urls.get("hyperliquid", hyperliquid.WS_URL)
    return [
        Feed(
            name=f"hyperliquid:{n}",
            exchange="hyperliquid",
            url=url,
            parse=hyperliquid.parse_frame,
            subscribe=[message for _, message in part],
            channels=channels_of(part),
            idle_timeout_s=idle_timeout(settings.websockets, channels_of(part)),
            ping_message=hyperliquid.PING,
            ping_interval_s=hyperliquid.PING_INTERVAL_S,
            subscribe_pause_s=HYPERLIQUID_MESSAGE_SPACING_S,
        )
        for n, part in enumerate(
            chunks(items, hyperliquid.MAX_SUBSCRIPTIONS)
        )  # 1000 per IP, so per socket too
    ]


def deribit_channel(channel: str, instrument: str, interval: str) -> str:
    if channel == "trades":
        return deribit.trades_channel(instrument, interval)
    if channel == "funding":
        return deribit.ticker_channel(instrument, interval)
    return deribit.chart_trades_channel(instrument, "1")


def deribit_feeds(settings: Settings, heartbeat_s: int = deribit.HEARTBEAT_INTERVAL_S) -> list[Feed]:
    """JSON-RPC: public/set_heartbeat, then public/subscribe; test_request answered with public/test."""
    items: list[Item[str]] = [
        (c, deribit_channel(c, inst, settings.venues.deribit.interval))
        for inst in settings.venues.deribit.symbols
        for c in settings.venues.deribit.channels
    ]
    url = settings.venues.urls.get("deribit", deribit.WS_URL)
    return [
        Feed(
            name=f"deribit:{n}",
            exchange="deribit",
            url=url,
            parse=deribit.parse_frame,
            subscribe=[
                deribit.set_heartbeat_message(1, heartbeat_s),
                deribit.subscribe_message([name for _, name in part], 2),
            ],
            channels=channels_of(part),
            idle_timeout_s=idle_timeout(settings.websockets, channels_of(part)),
            reply=deribit.heartbeat_reply,
        )
        for n, part in enumerate(chunks(items, DERIBIT_CHANNELS_PER_CONNECTION))
    ]


@dataclass(frozen=True)
class VenueFacts:
    """Tables of venue facts only a REST call answers, read by the parsers and filled in place by
    services/receivers/instruments.py while the feeds run."""

    okx_contract_values: dict[str, Decimal]  # instId -> ctVal
    binance_funding_hours: dict[str, Decimal] = field(default_factory=dict)  # symbols off 8 h
    bybit_funding_hours: dict[str, Decimal] = field(default_factory=dict)  # every linear perpetual


def venue_facts(settings: Settings) -> VenueFacts:
    """What is known before any REST call: built-in contract values and the settings'."""
    return VenueFacts(okx_contract_values(settings))


# feed name -> its sockets, their parsers reading the venue's tables in VenueFacts
BUILDERS: dict[str, Callable[[Settings, VenueFacts], list[Feed]]] = {
    "binance": lambda settings, facts: binance_feeds(settings, facts.binance_funding_hours),
    "binance_spot": lambda settings, facts: binance_spot_feeds(settings),
    "bybit": lambda settings, facts: bybit_feeds(settings, facts.bybit_funding_hours),
    "bybit_spot": lambda settings, facts: bybit_spot_feeds(settings),
    "okx": lambda settings, facts: okx_feeds(settings, facts.okx_contract_values),
    "hyperliquid": lambda settings, facts: hyperliquid_feeds(settings),
    "deribit": lambda settings, facts: deribit_feeds(settings),
}


def build_feeds(settings: Settings, facts: VenueFacts | None = None) -> list[Feed]:
    """Every socket of every venue in settings.websockets.feeds (a venue with no symbols opens none), their
    parsers reading `facts` (venue_facts(settings) when not given)."""
    facts = facts or venue_facts(settings)
    unknown = [venue for venue in settings.websockets.feeds if venue not in BUILDERS]
    if unknown:
        raise ConfigError(f"TRADEHUB_FEEDS: unknown feeds {', '.join(unknown)}; known: {', '.join(BUILDERS)}")
    return [feed for venue in settings.websockets.feeds for feed in BUILDERS[venue](settings, facts)]
