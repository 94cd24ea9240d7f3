"""The settings, nested by owner: each service part takes its own section, not the whole.

Users see flat names: every field keeps the TRADEHUB_* variable and TOML key it always had, as the
field's encoded name (`rename`), so `poll_retries` is `settings.rest.retries` in the code and
`TRADEHUB_POLL_RETRIES` / `poll_retries = 2` outside. shared/config.py reads and checks them.
"""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
Share = Annotated[float, msgspec.Meta(gt=0, le=1)]
SpikeInterval = Annotated[str, msgspec.Meta(pattern=r"^(5m|15m|1h|4h|1d)$")]  # derived candle rollups
Usd = Annotated[float, msgspec.Meta(gt=0)]
PerSecond = Annotated[float, msgspec.Meta(gt=0)]


def flat(prefix: str, **names: str) -> Callable[[str], str]:
    """A section's field `x` is the flat setting `<prefix>x`, unless `names` says otherwise."""
    return lambda field: names.get(field, prefix + field)


class Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A part of the settings owned by one part of tradehub."""


# --- streams and their consumers (shared/streams.py, shared/consumer.py, docs/streams.md) ---


class StreamSettings(Section, frozen=True, rename=flat("stream_", monitor_interval_s="monitor_interval_s")):
    # key prefix: <prefix>:<family>
    prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]+$")] = "th"
    partitions: Positive = 1  # streams per family, by hash of exchange+symbol
    maxlen: Positive = 200_000  # entries per stream, MAXLEN ~
    maxlen_by_family: dict[str, Positive] = {}  # per-family caps, e.g. trades=500000
    monitor_interval_s: Seconds = 5.0  # how often the stream monitor reads XINFO (length, lag, DLQ)
    # processors share the partitions by leases (services/processor/ownership.py, docs/scaling.md)
    lease_ttl_s: Seconds = 10.0  # a dead processor's partitions move this long after its last renewal
    lease_renew_s: Seconds = 2.0  # how often a processor renews its leases and rebalances; < lease_ttl_s / 3

    def __post_init__(self) -> None:
        if self.lease_renew_s * 3 > self.lease_ttl_s:  # a lease must survive two missed renewals
            raise ValueError(f"stream_lease_renew_s ({self.lease_renew_s}) must be at most a third of "
                             f"stream_lease_ttl_s ({self.lease_ttl_s})")


class ProducerSettings(Section, frozen=True, rename=flat("producer_")):
    batch_events: Positive = 256  # events packed in one entry
    flush_ms: Positive = 50  # longest wait before buffered events are written
    buffer_events: Positive = 200_000  # in-memory while Redis is away
    lag_fraction: Share = 0.8  # shed market data past this share of the cap


class ConsumerSettings(Section, frozen=True, rename=flat("consumer_", breaker_fail_max="breaker_fail_max",
                                                          breaker_reset_s="breaker_reset_s")):
    # entries per XREADGROUP, each up to producer_batch_events events: a backlog is read in reads that
    # large, decoded at once (16 drains as fast as 64 here, and leaves the heap ~4 MB higher, not ~15)
    batch_entries: Positive = 16
    block_ms: Positive = 1000  # XREADGROUP BLOCK; also the longest stop delay
    max_in_flight: Positive = 256  # entries read but not yet acked
    claim_idle_ms: Positive = 30_000  # reclaim entries pending this long
    max_deliveries: Positive = 5  # failures before an entry goes to the DLQ
    concurrency: Positive = 2  # processor consumers per stream: one decodes while another stores
    breaker_fail_max: Positive = 3  # store outages in a row that open the breaker
    breaker_reset_s: Seconds = 5.0  # open breaker: wait before probing again


# --- receivers: websocket feeds (services/receivers/, docs/receivers.md) ---
# Channels are the same words on every venue: trades, candles (1m), funding (funding, mark price,
# open interest), liquidations, prices.

Pairs = list[str]


def _pairs() -> list[str]:
    return ["BTCUSDT", "ETHUSDT"]


class BinanceSettings(Section, frozen=True, rename=flat("binance_")):
    symbols: Pairs = msgspec.field(default_factory=_pairs)  # USD-M perpetuals
    # aggTrade, kline_1m, markPrice@1s, forceOrder
    channels: list[Literal["trades", "candles", "funding", "liquidations"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "funding", "liquidations"])
    # funding and liquidations of EVERY perpetual (!markPrice@arr@1s, !forceOrder@arr)
    all_market: bool = False


class BinanceSpotSettings(Section, frozen=True, rename=flat("binance_spot_")):
    symbols: Pairs = msgspec.field(default_factory=_pairs)  # spot pairs
    channels: list[Literal["trades"]] = msgspec.field(default_factory=lambda: ["trades"])  # spot: trade


class BybitSettings(Section, frozen=True, rename=flat("bybit_")):
    symbols: Pairs = msgspec.field(default_factory=_pairs)  # v5 linear perpetuals
    # publicTrade, kline.1, tickers, allLiquidation
    channels: list[Literal["trades", "candles", "funding", "liquidations"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "funding", "liquidations"])


class BybitSpotSettings(Section, frozen=True, rename=flat("bybit_spot_")):
    symbols: Pairs = msgspec.field(default_factory=_pairs)  # v5 spot pairs
    # spot: publicTrade, kline.1, tickers (last price)
    channels: list[Literal["trades", "candles", "prices"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "prices"])


class OkxSettings(Section, frozen=True, rename=flat("okx_", symbols="okx_instruments")):
    # instIds: <BASE>-<QUOTE>-SWAP or spot <BASE>-<QUOTE>
    symbols: list[str] = msgspec.field(
        default_factory=lambda: ["BTC-USDT-SWAP", "ETH-USDT-SWAP"])
    # trades, candle1m, funding-rate + open-interest, liquidation-orders
    channels: list[Literal["trades", "candles", "funding", "liquidations"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "funding", "liquidations"])
    contract_values: dict[str, str] = {}  # instId -> ctVal (base coin per contract); wins over OKX's own list


class HyperliquidSettings(Section, frozen=True, rename=flat("hyperliquid_", symbols="hyperliquid_coins")):
    symbols: list[str] = msgspec.field(default_factory=lambda: ["BTC", "ETH"])  # perp coins
    # trades (with addresses), candle 1m, activeAssetCtx
    channels: list[Literal["trades", "candles", "funding"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "funding"])


class DeribitSettings(Section, frozen=True, rename=flat("deribit_", symbols="deribit_instruments")):
    # perpetuals: BTC-PERPETUAL, BTC_USDC-PERPETUAL
    symbols: list[str] = msgspec.field(
        default_factory=lambda: ["BTC-PERPETUAL", "ETH-PERPETUAL"])
    channels: list[Literal["trades", "candles", "funding"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "funding"])  # trades, chart.trades 1, ticker
    # notification interval; raw needs an authorized connection
    interval: Literal["100ms", "agg2", "raw"] = "100ms"


class JupiterSettings(Section, frozen=True, rename=flat("jupiter_")):
    mints: dict[str, str] = msgspec.field(default_factory=lambda: {
        "SOL": "So11111111111111111111111111111111111111112"})  # asset -> Solana mint priced in USD


class PythSettings(Section, frozen=True, rename=flat("pyth_")):
    feeds: dict[str, str] = msgspec.field(default_factory=lambda: {  # asset -> Pyth <ASSET>/USD feed id
        "BTC": "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43",
        "ETH": "ff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace",
        "SOL": "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"})


class VenueSettings(Section, frozen=True, rename={"urls": "venue_urls", "api_keys": "rest_api_keys"}):
    """Per venue: what to subscribe and the venue's extras; the registry names the venues."""

    urls: dict[str, str] = {}  # venue -> base url override (the simulator in a demo); <venue>_rest for REST
    api_keys: dict[str, str] = {}  # venue -> API key sent by REST pollers that need one (jupiter, pyth)
    binance: BinanceSettings = msgspec.field(default_factory=BinanceSettings)
    binance_spot: BinanceSpotSettings = msgspec.field(default_factory=BinanceSpotSettings)
    bybit: BybitSettings = msgspec.field(default_factory=BybitSettings)
    bybit_spot: BybitSpotSettings = msgspec.field(default_factory=BybitSpotSettings)
    okx: OkxSettings = msgspec.field(default_factory=OkxSettings)
    hyperliquid: HyperliquidSettings = msgspec.field(default_factory=HyperliquidSettings)
    deribit: DeribitSettings = msgspec.field(default_factory=DeribitSettings)
    jupiter: JupiterSettings = msgspec.field(default_factory=JupiterSettings)
    pyth: PythSettings = msgspec.field(default_factory=PythSettings)


class WebsocketSettings(Section, frozen=True, rename=flat("ws_", feeds="feeds")):
    # venue feeds to connect (the registry's names)
    feeds: list[str] = msgspec.field(default_factory=lambda: ["binance"])
    idle_timeout_s: Seconds = 30.0  # no data frame this long -> reconnect
    # quiet channels wait longer; else ws_idle_timeout_s
    idle_timeout_by_channel: dict[str, Seconds] = msgspec.field(default_factory=lambda: {
        "candles": 120.0, "funding": 120.0, "liquidations": 900.0})
    backoff_max_s: Seconds = 30.0  # cap of the websocket reconnect backoff
    status_interval_s: Seconds = 2.0  # how often each feed's state is written to Redis (<prefix>:feed:<name>)
    # offer permessage-deflate (RFC 7692) on the market-data sockets: less bandwidth, more CPU on both ends
    # (~1.7 us a frame to inflate here); off, a trade feed's few Mbit/s go as they are
    compression: bool = False


class BackfillSettings(Section, frozen=True, rename=flat("backfill_")):
    """Missed trades fetched again from the venues' REST history (services/receivers/backfill.py,
    docs/backfill.md)."""

    enabled: bool = True  # false: a jump in trade ids is recorded as unrecoverable, nothing is fetched
    max_trades: Positive = 100_000  # at most this many trades fetched for one gap; a longer gap ends partial
    position_interval_s: Seconds = 2.0  # how often where each feed stopped is written to Redis


# --- receivers: REST pollers (services/receivers/pollers.py, rest.py, docs/pollers.md) ---


class RestPolicy(Section, frozen=True, rename=flat("poll_", timeout_s="poll_timeout_s")):
    """How every venue's REST client behaves: timeouts, retries, breaker, share of the budget."""

    timeout_s: Seconds = 20.0  # one venue's whole poll (retries included); then it is a timeout
    request_timeout_s: Seconds = 10.0  # one HTTP request
    retries: Count = 2  # extra attempts on 429/418/5xx/network errors
    retry_max_wait_s: Seconds = 10.0  # a Retry-After longer than this gives up this poll at once
    weight_fraction: Share = 0.5  # share of a venue's weight/min used
    breaker_fail_max: Positive = 3  # failed polls in a row that open a venue's breaker
    breaker_reset_s: Seconds = 60.0  # how long an open venue breaker refuses calls


class PollSettings(Section, frozen=True, rename=flat("poll_")):
    functions: list[Literal["funding", "spot", "oi"]] = msgspec.field(
        default_factory=lambda: ["funding", "spot", "oi"])  # coordinators to run; [] = no polling
    funding_s: Seconds = 300.0  # how often the funding coordinator asks every venue
    spot_s: Seconds = 60.0  # spot price coordinator period
    oi_s: Seconds = 60.0  # open interest coordinator period
    funding_venues: list[str] = []  # venues to ask for funding; [] = every venue that can
    spot_venues: list[str] = []  # venues to ask for spot prices; [] = every venue that can
    oi_venues: list[str] = []  # venues to ask for open interest; [] = every venue that can
    funding_assets: list[str] = msgspec.field(default_factory=lambda: ["BTC", "ETH"])  # base assets
    spot_assets: list[str] = msgspec.field(default_factory=lambda: ["BTC", "ETH", "SOL"])  # base assets
    oi_assets: list[str] = msgspec.field(default_factory=lambda: ["BTC", "ETH"])  # base assets


# --- Hyperliquid traders: discovery, tracking, leaderboard (docs/traders.md) ---


class TraderSettings(Section, frozen=True, rename=flat("traders_")):
    enabled: bool = False  # track traders found in the Hyperliquid trades feed (receivers and processor)
    # coins whose trades are read for addresses: a list, or ["all"] for every listed perpetual (meta)
    coins: list[str] = msgspec.field(default_factory=lambda: ["BTC", "ETH"])
    weight_share: Share = 0.5  # share of Hyperliquid's 1200 weight/min the tracker may use
    batch: Positive = 20  # clearinghouseState calls in flight at once
    fills_interval_s: Seconds = 900.0  # a tracked trader's fills are read this often
    equity_interval_s: Seconds = 3600.0  # a tracked trader's portfolio (equity curve) is read this often
    leaderboard_interval_s: Seconds = 600.0  # the leaderboard is ranked this often
    # metric -> weight of the leaderboard score (metrics normalized to [0, 1]; drawdown, risk inverted)
    weights: dict[str, Annotated[float, msgspec.Meta(ge=0)]] = msgspec.field(default_factory=lambda: {
        "pnl": 0.25, "roi": 0.15, "win_rate": 0.2, "volume": 0.1, "drawdown": 0.15, "risk": 0.05,
        "sharpe": 0.1})
    min_age_days: Annotated[float, msgspec.Meta(ge=0)] = 7.0  # ranked only from this account age
    min_volume_usd: Annotated[float, msgspec.Meta(ge=0)] = 1000.0  # ranked only from this volume
    min_closed_trades: Count = 5  # ranked only from this many closing fills


class AccountSettings(Section, frozen=True, rename=flat("account_", master_key="master_key",
                                                         enabled="accounts_enabled")):
    """The user's own exchange accounts (docs/accounts.md): credentials, private streams, reconciliation."""

    enabled: bool = False  # private streams (receivers) and the accounts group (processor)
    # AES-256-GCM key of the credentials vault, base64 of 32 bytes (a secret: TRADEHUB_MASTER_KEY, or
    # TRADEHUB_MASTER_KEY_FILE=/path); make one with `python -m services.general accounts new-master-key`
    master_key: str = ""
    reconcile_s: Seconds = 300.0  # the stored state is checked against a REST snapshot this often
    reload_s: Seconds = 60.0  # the receivers look for added, changed or removed accounts this often
    fills_lookback_s: Seconds = 86400.0  # the first reconciliation asks for fills this far back
    auth_backoff_max_s: Seconds = 300.0  # cap of the retry backoff after the venue refused the credentials
    # a position whose mark (its entry without one) is within this percent of the liquidation price
    # the venue gives it raises one alert (services/processor/account_alerts.py)
    liquidation_alert_pct: Annotated[float, msgspec.Meta(gt=0, lt=100)] = 5.0


class PortfolioSettings(Section, frozen=True, rename=flat("portfolio_")):
    """The portfolio sync of the general service (docs/portfolio.md), on when accounts_enabled."""

    sync_s: Seconds = 1800.0  # every account's holdings, average entry and PnL are synced this often
    cost_method: Literal["average", "fifo"] = "average"  # how fills make the average entry price
    timeout_s: Seconds = 120.0  # one account's whole sync (its retries included); then it failed
    retries: Count = 2  # extra attempts of an account's snapshot after a venue error or timeout
    retry_backoff_s: Seconds = 5.0  # first wait before a retry; doubled each time
    price_max_age_s: Seconds = 900.0  # a stored price older than this is not used; the venue is asked


PoolName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]  # a hedged pool's own name


class HedgePool(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One LP pool position whose hedge is watched (docs/hedges.md)."""

    source: Literal["jlp", "adrena"]  # where the pool's composition is read
    held: Decimal  # pool tokens held (JLP, ALP), whole tokens
    accounts: list[str] = []  # account ids whose shorts count as this pool's hedge; [] = every account
    assets: dict[str, str] = {}  # pool asset -> hedge base asset, e.g. WBTC = "BTC"; else the same name
    custodies: dict[str, str] = {}  # adrena: pool asset -> its custody account (base58)
    mint: str = ""  # adrena: the ALP mint (base58), whose supply divides the custodies
    decimals: dict[str, Annotated[int, msgspec.Meta(ge=0, le=18)]] = {}  # jlp: asset -> token decimals


class HedgeSettings(Section, frozen=True, rename=flat("hedge_")):
    """LP hedge monitors in the general service (services/general/hedges.py, docs/hedges.md)."""

    # pool name -> {source, held, accounts, assets, ...}; TOML only, e.g. [hedge_pools.jlp]
    pools: dict[PoolName, HedgePool] = {}
    interval_s: Seconds = 300.0  # each pool's required and held hedge are compared this often
    # how far held may be from required, in % of required, before an alert is raised
    drift_alert_pct: Annotated[float, msgspec.Meta(gt=0)] = 5.0


# --- simulator, processor analytics, api ---


class SimulatorSettings(Section, frozen=True, rename=flat("simulator_")):
    port: Port = 8765  # the simulator's websocket and REST port
    traders: Positive = 5000  # Hyperliquid trader population: the addresses of its trades
    rate: Annotated[float, msgspec.Meta(gt=0)] = 50.0  # frames/s per symbol
    symbols: Pairs = msgspec.field(default_factory=_pairs)  # symbols it trades
    seed: int = 1  # same seed, same frames
    max_frames: Count = 0  # per symbol, 0 = unlimited


class AnalyticsSettings(Section, frozen=True, rename=flat("", batch_entries="analytics_batch_entries")):
    """services/processor/analytics.py, docs/analytics.md"""

    large_trade_usd_default: Usd = 100_000.0  # a trade worth this much USD is large
    large_trade_usd_by_symbol: dict[str, Usd] = {}  # symbol or base asset -> USD
    # 1m bars kept in memory; later trades re-read their minute from PostgreSQL
    candle_memory_minutes: Positive = 10
    # entries per read of the analytics group (consumer_batch_entries is the storing consumers'): its
    # writes (bars, five rollup levels, large trades) cost per batch, so it reads more at once
    batch_entries: Positive = 32
    spike_window: Positive = 100  # points per (exchange, symbol, metric, interval) rolling window
    spike_min_points: Positive = 20  # no z-score before the window holds this many points
    # interval -> z threshold; intervals watched
    spike_thresholds: dict[SpikeInterval, Usd] = msgspec.field(
        default_factory=lambda: {"5m": 3.0, "15m": 2.5, "1h": 2.0})


class ApiSettings(Section, frozen=True, rename=flat("api_", ws_client_queue="ws_client_queue",
                                                     ws_send_timeout_s="ws_send_timeout_s",
                                                     ws_max_subscriptions="ws_max_subscriptions")):
    """services/api/: REST answers and WebSocket push"""

    max_limit: Positive = 1000  # largest ?limit= the REST API answers
    ws_client_queue: Positive = 1000  # messages queued per client; beyond it the oldest are dropped
    ws_send_timeout_s: Seconds = 10.0  # a client whose socket takes nothing for this long is disconnected
    ws_max_subscriptions: Positive = 100  # subscriptions per client


class ApiRateSettings(Section, frozen=True, rename=flat("api_rate_")):
    """services/api/ratelimit.py: token buckets in Redis, shared by every api process (docs/api.md)"""

    enabled: bool = True  # 429 past a limit; off: every request is answered
    anonymous_per_s: PerSecond = 5.0  # requests/s refilled per IP without an API key
    anonymous_burst: Positive = 30  # requests an IP without a key may send at once
    market_per_s: PerSecond = 20.0  # requests/s per API key on the public data
    market_burst: Positive = 100  # burst per API key on the public data
    account_per_s: PerSecond = 5.0  # requests/s per API key on the account:read routes
    account_burst: Positive = 30  # burst per API key on the account:read routes
    ws_connections: Positive = 5  # open /ws connections per client (key or IP) in one api process


# --- general: backups, retention, alerts, watchers (services/general/, docs/general.md) ---


class S3Settings(Section, frozen=True, rename=flat("s3_")):
    endpoint: str = ""  # S3-compatible upload, e.g. https://s3.us-west-004.backblazeb2.com; "" = no upload
    bucket: str = ""  # bucket the dumps go to
    region: str = "us-east-1"  # signing region (B2: the region in the endpoint, e.g. us-west-004)
    prefix: str = "tradehub/"  # key prefix of uploaded dumps
    access_key: str = ""  # access key id (B2: keyID)
    secret_key: str = ""  # secret access key (B2: applicationKey); a secret


class BackupSettings(Section, frozen=True, rename=flat("backup_")):
    enabled: bool = True  # scheduled backups in the general service (the CLI works either way)
    dir: str = "./var/backups"  # where dumps and their manifests are written and rotated
    interval_s: Seconds = 86_400.0  # a backup is due when the newest one is this old
    retry_s: Seconds = 900.0  # after a failed backup, try again this much later
    keep_daily: Positive = 7  # keep the newest backup of each of the last N days
    keep_weekly: Count = 4  # and of each of the last M ISO weeks
    timeout_s: Seconds = 3600.0  # pg_dump / pg_restore are killed after this
    restore_check: bool = True  # restore each scheduled backup into a scratch database and count rows
    s3: S3Settings = msgspec.field(default_factory=S3Settings)


class RetentionSettings(Section, frozen=True, rename=flat("retention_")):
    trades_days: Positive = 30  # raw trades: daily partitions older than this are dropped
    candles_1m_days: Positive = 90  # 1m candles older than this go, once their hour has a 1h candle
    interval_s: Seconds = 3600.0  # how often retention runs


class TelegramSettings(Section, frozen=True, rename=flat("telegram_")):
    token: str = ""  # bot token, a secret; "" = alerts are only logged
    chats: dict[str, str] = {}  # severity (info/warning/critical/default) -> chat ids separated by ; or ,
    api_url: str = "https://api.telegram.org"  # Bot API base url (tests point it at a fake)
    chat_interval_s: Seconds = 1.0  # at most one message a second per chat (Telegram Bot FAQ)
    global_per_s: Positive = 30  # at most 30 messages a second over all chats (Telegram Bot FAQ)
    group_per_min: Positive = 20  # at most 20 messages a minute per group (Telegram Bot FAQ)
    max_retries: Count = 3  # per message, after 429/5xx/network errors
    timeout_s: Seconds = 10.0  # one Bot API request
    status_poll_s: Positive = 25  # getUpdates long-poll seconds for /status


class AlertSettings(Section, frozen=True, rename=flat("alert_")):
    dedup_s: Seconds = 300.0  # the same alert (key, severity, title) reaches a chat once per window
    # liquidations worth alerting; 0 = off
    liquidation_usd: Annotated[float, msgspec.Meta(ge=0)] = 1_000_000.0


class WatchSettings(Section, frozen=True, rename=flat("watch_")):
    interval_s: Seconds = 5.0  # heartbeats, lag, DLQ, breakers and feeds are checked this often
    feed_silent_s: Seconds = 120.0  # a feed without frames (or disconnected) this long raises an alert
    metrics_urls: dict[str, str] = {}  # service -> /metrics url scraped for breakers/feeds; {} = local ports


class Settings(Section, frozen=True):
    """Every knob of every service; see docs/configuration.md for what each one does."""

    # Redis holding the streams and heartbeats; a cluster: redis+cluster://host:port[,host:port...]
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False  # the URL's hosts (comma-separated) are start-up nodes of a Redis Cluster
    # PostgreSQL (secret: may hold a password)
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    db_schema: Annotated[str, msgspec.Meta(pattern=r"^[a-z_][a-z0-9_]*$")] = "public"  # schema of every table
    db_pool_size: Positive = 4  # connections per service
    service_instance: str = ""  # consumer and heartbeat name; default: host name
    heartbeat_interval_s: Seconds = 5.0  # a service is down after 3 missed beats
    shutdown_timeout_s: Seconds = 10.0  # graceful stop budget on SIGTERM
    redis_backoff_max_s: Seconds = 30.0  # cap of the retry backoff while Redis is unreachable
    # DEBUG, INFO, WARNING, ERROR
    log_level: Annotated[str, msgspec.Meta(pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")] = "INFO"
    bind_host: str = "127.0.0.1"  # address the API and metrics listen on
    api_port: Port = 8000  # REST, /ws, /health, /ready, /metrics
    receivers_metrics_port: Port = 9101  # /metrics of the receivers
    processor_metrics_port: Port = 9102  # /metrics of the processor
    general_metrics_port: Port = 9103  # /metrics of the general service
    streams: StreamSettings = msgspec.field(default_factory=StreamSettings)
    producer: ProducerSettings = msgspec.field(default_factory=ProducerSettings)
    consumer: ConsumerSettings = msgspec.field(default_factory=ConsumerSettings)
    websockets: WebsocketSettings = msgspec.field(default_factory=WebsocketSettings)
    backfill: BackfillSettings = msgspec.field(default_factory=BackfillSettings)
    venues: VenueSettings = msgspec.field(default_factory=VenueSettings)
    rest: RestPolicy = msgspec.field(default_factory=RestPolicy)
    polling: PollSettings = msgspec.field(default_factory=PollSettings)
    traders: TraderSettings = msgspec.field(default_factory=TraderSettings)
    accounts: AccountSettings = msgspec.field(default_factory=AccountSettings)
    portfolio: PortfolioSettings = msgspec.field(default_factory=PortfolioSettings)
    hedges: HedgeSettings = msgspec.field(default_factory=HedgeSettings)
    simulator: SimulatorSettings = msgspec.field(default_factory=SimulatorSettings)
    analytics: AnalyticsSettings = msgspec.field(default_factory=AnalyticsSettings)
    api: ApiSettings = msgspec.field(default_factory=ApiSettings)
    api_rate: ApiRateSettings = msgspec.field(default_factory=ApiRateSettings)
    backup: BackupSettings = msgspec.field(default_factory=BackupSettings)
    retention: RetentionSettings = msgspec.field(default_factory=RetentionSettings)
    telegram: TelegramSettings = msgspec.field(default_factory=TelegramSettings)
    alerts: AlertSettings = msgspec.field(default_factory=AlertSettings)
    watch: WatchSettings = msgspec.field(default_factory=WatchSettings)
