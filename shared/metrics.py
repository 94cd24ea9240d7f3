"""Every Prometheus metric tradehub exports, defined once; each service serves /metrics."""
from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

# streams: producing
EVENTS_PUBLISHED = Counter("tradehub_events_published_total", "Events written to a stream", ["stream"])
ENTRIES_PUBLISHED = Counter("tradehub_entries_published_total", "Stream entries written", ["stream"])
EVENTS_SHED = Counter("tradehub_events_shed_total", "Events shed by a producer under lag", ["stream"])
EVENTS_DROPPED = Counter(
    "tradehub_events_dropped_total", "Events dropped before reaching Redis", ["stream", "reason"]
)
PRODUCER_BUFFERED = Gauge("tradehub_producer_buffered_events", "Events held in memory by the producer")
REDIS_ERRORS = Counter("tradehub_redis_errors_total", "Redis calls that failed", ["op"])
# streams: consuming
ENTRIES_ACKED = Counter("tradehub_entries_acked_total", "Entries processed and acked", ["stream", "group"])
ENTRIES_FAILED = Counter("tradehub_entries_failed_total", "Entries whose processing failed", ["stream", "group"])
ENTRIES_RECLAIMED = Counter("tradehub_entries_reclaimed_total", "Entries reclaimed from idle consumers", ["stream", "group"])
ENTRIES_DEAD = Counter("tradehub_entries_dead_lettered_total", "Entries moved to the DLQ", ["stream", "group"])
DELIVERIES = Counter("tradehub_deliveries_total", "Entries delivered to this consumer", ["stream", "group"])
STREAM_LENGTH = Gauge("tradehub_stream_length", "Entries in a stream", ["stream"])
STREAM_LAG = Gauge("tradehub_stream_lag", "Entries a group has not read yet", ["stream", "group"])
STREAM_PENDING = Gauge("tradehub_stream_pending", "Entries read but not acked", ["stream", "group"])
TRIMMED_UNREAD = Counter(
    "tradehub_stream_trimmed_unread_total", "Entries trimmed before the group read them", ["stream", "group"]
)
DLQ_DEPTH = Gauge("tradehub_dlq_depth", "Entries in a dead-letter queue", ["stream"])
BREAKER_STATE = Gauge("tradehub_breaker_state", "0 closed, 1 half-open, 2 open", ["breaker"])
BREAKER_OPENED = Counter("tradehub_breaker_opened_total", "Times a breaker opened", ["breaker"])
# storage
EVENTS_STORED = Counter("tradehub_events_stored_total", "Events written to PostgreSQL", ["table"])
STORE_SECONDS = Histogram("tradehub_store_seconds", "Time to store one batch", ["table"])
# receivers
FRAMES = Counter("tradehub_frames_total", "Websocket frames received", ["feed"])
BAD_FRAMES = Counter("tradehub_bad_frames_total", "Frames that could not be parsed", ["feed"])
RECONNECTS = Counter("tradehub_reconnects_total", "Feed reconnections", ["feed", "reason"])
FEED_CONNECTED = Gauge("tradehub_feed_connected", "1 while a feed is connected", ["feed"])
# services
HEARTBEAT_AGE = Gauge("tradehub_heartbeat_age_seconds", "Age of each service's last heartbeat", ["service"])


async def _metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_metrics_route(app: web.Application) -> None:
    app.router.add_get("/metrics", _metrics)


async def start_metrics_server(host: str, port: int) -> web.AppRunner:
    """Serve /metrics on its own port; the caller cleans up the returned runner."""
    app = web.Application()
    add_metrics_route(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
