"""Which sockets to open, from the settings: exchange -> feeds."""
from __future__ import annotations

from services.receivers.connection import Feed
from services.receivers.exchanges import binance
from shared.config import Settings


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def binance_feeds(settings: Settings) -> list[Feed]:
    """USD-M aggTrade over combined streams, split at the per-connection stream limit."""
    base = settings.venue_urls.get("binance", binance.WS_URL)
    streams = binance.agg_trade_streams(settings.binance_symbols)
    return [
        Feed(name=f"binance:aggTrade:{n}", exchange="binance", url=binance.combined_stream_url(base, part),
             parse=binance.parse_frame, idle_timeout_s=settings.ws_idle_timeout_s,
             max_age_s=binance.MAX_CONNECTION_AGE_S - 600)
        for n, part in enumerate(chunks(streams, binance.MAX_STREAMS_PER_CONNECTION))
    ]


def build_feeds(settings: Settings) -> list[Feed]:
    return binance_feeds(settings) if settings.binance_symbols else []
