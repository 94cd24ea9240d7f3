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
ENTRIES_FAILED = Counter(
    "tradehub_entries_failed_total", "Entries whose processing failed", ["stream", "group"]
)
ENTRIES_RECLAIMED = Counter(
    "tradehub_entries_reclaimed_total", "Entries reclaimed from idle consumers", ["stream", "group"]
)
ENTRIES_DEAD = Counter(
    "tradehub_entries_dead_lettered_total", "Entries moved to the DLQ", ["stream", "group"]
)
DELIVERIES = Counter("tradehub_deliveries_total", "Entries delivered to this consumer", ["stream", "group"])
STREAM_LENGTH = Gauge("tradehub_stream_length", "Entries in a stream", ["stream"])
STREAM_LAG = Gauge("tradehub_stream_lag", "Entries a group has not read yet", ["stream", "group"])
STREAM_CAP = Gauge("tradehub_stream_cap", "A stream's MAXLEN cap (lag alerts are a share of it)", ["stream"])
STREAM_PENDING = Gauge("tradehub_stream_pending", "Entries read but not acked", ["stream", "group"])
TRIMMED_UNREAD = Counter(
    "tradehub_stream_trimmed_unread_total", "Entries trimmed before the group read them", ["stream", "group"]
)
ENTRIES_LOST = Counter(
    "tradehub_stream_entries_lost_total",
    "Entries Redis acknowledged to this producer that are gone from the stream (a failover lost them)",
    ["stream"],
)
EVENTS_LOST = Counter(
    "tradehub_stream_events_lost_total", "Events in entries a failover lost (see entries_lost)", ["stream"]
)
STREAM_LOST = Gauge(
    "tradehub_stream_lost_entries",
    "Entries acknowledged by Redis, then lost from the stream (kept in Redis, every producer's count)",
    ["stream"],
)
STREAM_TRIMMED_UNREAD = Gauge(
    "tradehub_stream_trimmed_unread_entries",
    "Entries trimmed before the group read them, since the group exists "
    "(kept in Redis, the same figure in every process)",
    ["stream", "group"],
)
DLQ_DEPTH = Gauge("tradehub_dlq_depth", "Entries in a dead-letter queue", ["stream"])
PARTITIONS_OWNED = Gauge("tradehub_partitions_owned", "Stream partitions this processor owns (leases held)")
PARTITION_MOVES = Counter(
    "tradehub_partition_moves_total", "Partitions this processor took, released or lost", ["change"]
)
BREAKER_STATE = Gauge("tradehub_breaker_state", "0 closed, 1 half-open, 2 open", ["breaker"])
BREAKER_OPENED = Counter("tradehub_breaker_opened_total", "Times a breaker opened", ["breaker"])
# storage
EVENTS_STORED = Counter("tradehub_events_stored_total", "Events written to PostgreSQL", ["table"])
STORE_SECONDS = Histogram("tradehub_store_seconds", "Time to store one batch", ["table"])
STORE_MERGES = Counter(
    "tradehub_store_merges_total", "Batches stored by merge (some rows were there already)"
)
# receivers
FRAMES = Counter("tradehub_frames_total", "Websocket frames received", ["feed"])
BAD_FRAMES = Counter("tradehub_bad_frames_total", "Frames that could not be parsed", ["feed"])
RECONNECTS = Counter("tradehub_reconnects_total", "Feed reconnections", ["feed", "reason"])
FEED_CONNECTED = Gauge("tradehub_feed_connected", "1 while a feed is connected", ["feed"])
DATA_FRAMES = Counter(
    "tradehub_feed_data_frames_total", "Frames that carried data (not pongs, acks, heartbeats)", ["feed"]
)
FEED_FAILURES = Gauge(
    "tradehub_feed_consecutive_failures", "Sessions in a row that ended without data", ["feed"]
)
FEED_LAST_DATA = Gauge(
    "tradehub_feed_last_data_timestamp_seconds", "When a feed last received a data frame", ["feed"]
)
GAPS = Counter("tradehub_feed_gaps_total", "Outages of a feed recorded as gaps", ["feed"])
# services
HEARTBEAT_AGE = Gauge(
    "tradehub_heartbeat_age_seconds", "Age of each service's last heartbeat; +Inf in the general service "
    "when a service has none", ["service"])


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

# receivers: REST pollers (funding, spot, open interest)
POLLS = Counter(
    "tradehub_polls_total", "Polls of one venue by a coordinator, by outcome "
    "(ok, timeout, rate_limited, unavailable, bad_response, internal)", ["function", "venue", "outcome"]
)
POLL_SECONDS = Histogram(
    "tradehub_poll_seconds", "Time one venue took to answer a poll", ["function", "venue"]
)
POLL_LAST_SUCCESS = Gauge(
    "tradehub_poll_last_success_timestamp_seconds", "When a venue last answered a poll", ["function", "venue"]
)
REST_REQUESTS = Counter(
    "tradehub_rest_requests_total", "REST requests to a venue, by HTTP status", ["venue", "status"]
)
REST_RETRIES = Counter("tradehub_rest_retries_total", "REST requests retried, by reason", ["venue", "reason"])
REST_THROTTLED_SECONDS = Counter(
    "tradehub_rest_throttled_seconds_total", "Time spent waiting for a venue's weight budget", ["venue"]
)

# receivers: Hyperliquid trader tracker (services/receivers/traders/)
TRACKER_WEIGHT = Gauge(
    "tradehub_tracker_weight_per_minute",
    "Hyperliquid weight sent in the last minute, by budget (venue: every call of the IP; tracker: its share)",
    ["budget"],
)
TRACKER_WEIGHT_LIMIT = Gauge(
    "tradehub_tracker_weight_limit_per_minute",
    "Hyperliquid weight allowed per minute, by budget (venue: the IP's limit; tracker: its share)",
    ["budget"],
)
TRACKER_TRADERS_PER_MINUTE = Gauge(
    "tradehub_tracker_traders_per_minute", "Trader states read in the last minute"
)
TRACKER_STALENESS = Gauge(
    "tradehub_tracker_largest_staleness_seconds",
    "Now minus the last time tracked, the largest over every tracked trader of the rotation",
)
TRACKER_ROTATION = Gauge(
    "tradehub_tracker_rotation_traders", "Traders of the rotation, by kind (all, never_tracked, watched)",
    ["kind"],
)
TRACKER_REQUESTS = Counter(
    "tradehub_tracker_requests_total",
    "Tracker info requests, by request (state, fills, equity) and outcome", ["request", "outcome"],
)

# processor: the user's accounts (services/processor/account_reconcile.py)
ACCOUNT_DIFFERENCES = Counter(
    "tradehub_account_differences_total",
    "Stored account state a reconciliation found different from the venue's snapshot, by kind "
    "(missed_fill, order, balance, position)", ["exchange", "account", "kind"],
)

ALERTS_RAISED = Counter(
    "tradehub_alerts_raised_total", "Alerts raised by the general service's watchers", ["source"]
)
ALERTS_SENT = Counter("tradehub_alerts_sent_total", "Alert messages delivered to Telegram", ["severity"])
ALERTS_SUPPRESSED = Counter(
    "tradehub_alerts_suppressed_total", "Alert messages not sent, by reason", ["reason"]
)
TELEGRAM_REQUESTS = Counter(
    "tradehub_telegram_requests_total", "Bot API requests, by method and outcome", ["method", "outcome"]
)
BACKUPS = Counter("tradehub_backups_total", "Backups taken, by outcome", ["outcome"])
BACKUP_LAST_SUCCESS = Gauge(
    "tradehub_backup_last_success_timestamp_seconds", "When the last backup succeeded"
)
BACKUP_INTERVAL = Gauge(
    "tradehub_backup_interval_seconds", "The backup schedule: one is due when the newest is this old "
    "(0 while scheduled backups are off)"
)
BACKUP_BYTES = Gauge("tradehub_backup_bytes", "Size of the newest backup")
RESTORE_CHECKS = Counter("tradehub_restore_checks_total", "Restore checks, by outcome", ["outcome"])
RETENTION_DROPPED = Counter(
    "tradehub_retention_dropped_total", "Partitions dropped and rows deleted by retention", ["what"]
)

# receivers: the user's accounts (services/receivers/accounts/)
ACCOUNT_AUTH_FAILURES = Counter(
    "tradehub_account_auth_failures_total", "Logins and signed calls the venue refused, per account",
    ["exchange", "account"])
ACCOUNT_SNAPSHOTS = Counter(
    "tradehub_account_snapshots_total", "Reconciliation snapshots taken, by outcome", ["exchange", "account",
                                                                                       "outcome"])

# api: WebSocket push (services/api/push.py)
PUSH_CLIENTS = Gauge("tradehub_push_clients", "WebSocket clients connected to /ws")
PUSH_MESSAGES = Counter(
    "tradehub_push_messages_total", "Event messages queued for WebSocket clients", ["topic"]
)
PUSH_DROPPED = Counter("tradehub_push_dropped_total", "Messages dropped from a slow client's full queue")
PUSH_DISCONNECTS = Counter("tradehub_push_disconnects_total", "WebSocket clients gone, by reason", ["reason"])
PUSH_BAD_ENTRIES = Counter(
    "tradehub_push_bad_entries_total", "Stream entries the push hub could not decode", ["stream"]
)

# general: the portfolio sync (services/general/portfolio.py)
PORTFOLIO_SYNCS = Counter(
    "tradehub_portfolio_syncs_total", "Account portfolio syncs, by venue and outcome (ok, failed, timeout)",
    ["exchange", "outcome"])
PORTFOLIO_LAST_SUCCESS = Gauge(
    "tradehub_portfolio_last_success_timestamp_seconds", "When an account of the venue last synced",
    ["exchange"])

# general: LP hedge monitors (services/general/hedges.py)
HEDGE_RUNS = Counter("tradehub_hedge_runs_total", "Hedge monitor reads of a pool, by outcome",
                     ["pool", "outcome"])
HEDGE_REQUIRED = Gauge("tradehub_hedge_required", "Short a pool holding requires, in asset tokens",
                       ["pool", "asset"])
HEDGE_HELD = Gauge("tradehub_hedge_held", "Short positions held against a pool, in asset tokens",
                   ["pool", "asset"])
HEDGE_DRIFT = Gauge("tradehub_hedge_drift", "Held minus required short, in asset tokens", ["pool", "asset"])
HEDGE_DRIFT_PCT = Gauge("tradehub_hedge_drift_pct", "Held minus required short, % of required",
                        ["pool", "asset"])
