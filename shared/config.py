"""One frozen settings object, read once at start from TRADEHUB_* variables and an
optional TOML file (TRADEHUB_CONFIG), validated with errors that name the variable.

Precedence: defaults < TOML file < environment. A secret may come from a file:
TRADEHUB_<NAME>_FILE=/run/secrets/x reads the setting <name> from that file.
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

ENV_PREFIX = "TRADEHUB_"
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
SpikeInterval = Annotated[str, msgspec.Meta(pattern=r"^(5m|15m|1h|4h|1d)$")]  # derived candle rollups
SECRETS = frozenset({"database_url", "telegram_token", "api_keys", "s3_secret_key", "exchange_keys_secret",
                     "rest_api_keys"})


class ConfigError(Exception):
    """A setting is missing, unknown or invalid; the message names it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every knob of every service; see docs/configuration.md for what each one does."""

    # connections
    redis_url: str = "redis://127.0.0.1:6379/0"  # Redis holding the streams and heartbeats
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"  # PostgreSQL (secret: may hold a password)
    db_schema: Annotated[str, msgspec.Meta(pattern=r"^[a-z_][a-z0-9_]*$")] = "public"  # schema of every table
    db_pool_size: Positive = 4  # connections per service
    # streams
    stream_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]+$")] = "th"  # key prefix: <prefix>:<family>
    stream_partitions: Positive = 1  # streams per family, by hash of exchange+symbol
    stream_maxlen: Positive = 200_000  # entries per stream, MAXLEN ~
    stream_maxlen_by_family: dict[str, Positive] = {}  # per-family caps, e.g. trades=500000
    producer_batch_events: Positive = 256  # events packed in one entry
    producer_flush_ms: Positive = 50  # longest wait before buffered events are written
    producer_buffer_events: Positive = 200_000  # in-memory while Redis is away
    producer_lag_fraction: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.8  # shed market data past this share of the cap
    consumer_batch_entries: Positive = 64  # entries per XREADGROUP
    consumer_block_ms: Positive = 1000  # XREADGROUP BLOCK; also the longest stop delay
    consumer_max_in_flight: Positive = 256  # entries read but not yet acked
    consumer_claim_idle_ms: Positive = 30_000  # reclaim entries pending this long
    consumer_max_deliveries: Positive = 5  # failures before an entry goes to the DLQ
    consumer_concurrency: Positive = 2  # processor consumers per stream: one decodes while another stores
    breaker_fail_max: Positive = 3  # store outages in a row that open the breaker
    breaker_reset_s: Seconds = 5.0  # open breaker: wait before probing again
    monitor_interval_s: Seconds = 5.0  # how often the stream monitor reads XINFO (length, lag, DLQ)
    redis_backoff_max_s: Seconds = 30.0  # cap of the retry backoff while Redis is unreachable
    # services
    service_instance: str = ""  # consumer and heartbeat name; default: host name
    heartbeat_interval_s: Seconds = 5.0  # a service is down after 3 missed beats
    shutdown_timeout_s: Seconds = 10.0  # graceful stop budget on SIGTERM
    log_level: Annotated[str, msgspec.Meta(pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")] = "INFO"  # DEBUG, INFO, WARNING, ERROR
    bind_host: str = "127.0.0.1"  # address the API and metrics listen on
    api_port: Port = 8000  # REST, /ws, /health, /ready, /metrics
    receivers_metrics_port: Port = 9101  # /metrics of the receivers
    processor_metrics_port: Port = 9102  # /metrics of the processor
    general_metrics_port: Port = 9103  # /metrics of the general service
    api_max_limit: Positive = 1000  # largest ?limit= the REST API answers
    # receivers
    binance_symbols: list[str] = msgspec.field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])  # USD-M aggTrade
    venue_urls: dict[str, str] = {}  # venue -> base url override (the simulator in a demo)
    ws_idle_timeout_s: Seconds = 30.0  # no data frame this long -> reconnect
    ws_backoff_max_s: Seconds = 30.0  # cap of the reconnect backoff
    # simulator
    simulator_port: Port = 8765  # the simulator's websocket and REST port
    simulator_rate: Annotated[float, msgspec.Meta(gt=0)] = 50.0  # frames/s per symbol
    simulator_symbols: list[str] = msgspec.field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])  # symbols it trades
    simulator_seed: int = 1  # same seed, same frames
    simulator_max_frames: Annotated[int, msgspec.Meta(ge=0)] = 0  # per symbol, 0 = unlimited
    # REST pollers: funding, spot prices, open interest (services/receivers/pollers.py)
    poll_functions: list[Literal["funding", "spot", "oi"]] = msgspec.field(
        default_factory=lambda: ["funding", "spot", "oi"])  # coordinators to run; [] = no polling
    poll_funding_s: Seconds = 300.0  # how often the funding coordinator asks every venue
    poll_spot_s: Seconds = 60.0  # spot price coordinator period
    poll_oi_s: Seconds = 60.0  # open interest coordinator period
    poll_funding_venues: list[str] = []  # venues to ask for funding; [] = every venue that can
    poll_spot_venues: list[str] = []  # venues to ask for spot prices; [] = every venue that can
    poll_oi_venues: list[str] = []  # venues to ask for open interest; [] = every venue that can
    poll_funding_assets: list[str] = msgspec.field(default_factory=lambda: ["BTC", "ETH"])  # base assets
    poll_spot_assets: list[str] = msgspec.field(default_factory=lambda: ["BTC", "ETH", "SOL"])
    poll_oi_assets: list[str] = msgspec.field(default_factory=lambda: ["BTC", "ETH"])
    poll_timeout_s: Seconds = 20.0  # one venue's whole poll (retries included); then it is a timeout
    poll_request_timeout_s: Seconds = 10.0  # one HTTP request
    poll_retries: Annotated[int, msgspec.Meta(ge=0)] = 2  # extra attempts on 429/418/5xx/network errors
    poll_retry_max_wait_s: Seconds = 10.0  # a Retry-After longer than this gives up this poll at once
    poll_weight_fraction: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5  # share of a venue's weight/min used
    poll_breaker_fail_max: Positive = 3  # failed polls in a row that open a venue's breaker
    poll_breaker_reset_s: Seconds = 60.0  # how long an open venue breaker refuses calls
    jupiter_mints: dict[str, str] = msgspec.field(default_factory=lambda: {
        "SOL": "So11111111111111111111111111111111111111112"})  # asset -> Solana mint priced in USD
    pyth_feeds: dict[str, str] = msgspec.field(default_factory=lambda: {  # asset -> Pyth <ASSET>/USD feed id
        "BTC": "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43",
        "ETH": "ff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace",
        "SOL": "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"})
    rest_api_keys: dict[str, str] = {}  # venue -> API key sent by REST pollers that need one (jupiter, pyth)
    # general: backups (services/general/backups.py, docs/general.md)
    backup_enabled: bool = True  # scheduled backups in the general service (the CLI works either way)
    backup_dir: str = "./var/backups"  # where dumps and their manifests are written and rotated
    backup_interval_s: Seconds = 86_400.0  # a backup is due when the newest one is this old
    backup_retry_s: Seconds = 900.0  # after a failed backup, try again this much later
    backup_keep_daily: Positive = 7  # keep the newest backup of each of the last N days
    backup_keep_weekly: Annotated[int, msgspec.Meta(ge=0)] = 4  # and of each of the last M ISO weeks
    backup_timeout_s: Seconds = 3600.0  # pg_dump / pg_restore are killed after this
    backup_restore_check: bool = True  # restore each scheduled backup into a scratch database and count rows
    s3_endpoint: str = ""  # S3-compatible upload, e.g. https://s3.us-west-004.backblazeb2.com; "" = no upload
    s3_bucket: str = ""  # bucket the dumps go to
    s3_region: str = "us-east-1"  # signing region (B2: the region in the endpoint, e.g. us-west-004)
    s3_prefix: str = "tradehub/"  # key prefix of uploaded dumps
    s3_access_key: str = ""  # access key id (B2: keyID)
    s3_secret_key: str = ""  # secret access key (B2: applicationKey); a secret
    # general: retention and downsampling (services/general/retention.py)
    retention_trades_days: Positive = 30  # raw trades: daily partitions older than this are dropped
    retention_candles_1m_days: Positive = 90  # 1m candles older than this go, once their hour has a 1h candle
    retention_interval_s: Seconds = 3600.0  # how often retention runs
    # general: alerts and Telegram (services/general/alerts.py, telegram.py)
    telegram_token: str = ""  # bot token, a secret; "" = alerts are only logged
    telegram_chats: dict[str, str] = {}  # severity (info/warning/critical/default) -> chat ids separated by ; or ,
    telegram_api_url: str = "https://api.telegram.org"  # Bot API base url (tests point it at a fake)
    telegram_chat_interval_s: Seconds = 1.0  # at most one message a second per chat (Telegram Bot FAQ)
    telegram_global_per_s: Positive = 30  # at most 30 messages a second over all chats (Telegram Bot FAQ)
    telegram_group_per_min: Positive = 20  # at most 20 messages a minute per group (Telegram Bot FAQ)
    telegram_max_retries: Annotated[int, msgspec.Meta(ge=0)] = 3  # per message, after 429/5xx/network errors
    telegram_timeout_s: Seconds = 10.0  # one Bot API request
    telegram_status_poll_s: Positive = 25  # getUpdates long-poll seconds for /status
    alert_dedup_s: Seconds = 300.0  # the same alert (key, severity, title) reaches a chat once per window
    alert_liquidation_usd: Annotated[float, msgspec.Meta(ge=0)] = 1_000_000.0  # liquidations worth alerting; 0 = off
    # general: watchers (services/general/watch.py)
    watch_interval_s: Seconds = 5.0  # heartbeats, lag, DLQ, breakers and feeds are checked this often
    watch_feed_silent_s: Seconds = 120.0  # a feed without frames (or disconnected) this long raises an alert
    watch_metrics_urls: dict[str, str] = {}  # service -> /metrics url scraped for breakers/feeds; {} = local ports
    # processor: market analytics (services/processor/analytics.py, docs/analytics.md)
    large_trade_usd_default: Annotated[float, msgspec.Meta(gt=0)] = 100_000.0  # a trade worth this much USD is large
    large_trade_usd_by_symbol: dict[str, Annotated[float, msgspec.Meta(gt=0)]] = {}  # symbol or base asset -> USD
    candle_memory_minutes: Positive = 10  # 1m bars kept in memory; later trades re-read their minute from PostgreSQL
    spike_window: Positive = 100  # points per (exchange, symbol, metric, interval) rolling window
    spike_min_points: Positive = 20  # no z-score before the window holds this many points
    spike_thresholds: dict[SpikeInterval, Annotated[float, msgspec.Meta(gt=0)]] = msgspec.field(
        default_factory=lambda: {"5m": 3.0, "15m": 2.5, "1h": 2.0})  # interval -> z threshold; intervals watched
    # api: WebSocket push (services/api/push.py)
    ws_client_queue: Positive = 1000  # messages queued per client; beyond it the oldest are dropped
    ws_send_timeout_s: Seconds = 10.0  # a client whose socket takes nothing for this long is disconnected
    ws_max_subscriptions: Positive = 100  # subscriptions per client
    # receivers: websocket feeds (services/receivers/feeds.py, docs/receivers.md). Channels are the same
    # words on every venue: trades, candles (1m), funding (funding, mark price, open interest), liquidations
    feeds: list[Literal["binance", "binance_spot", "bybit", "bybit_spot", "okx", "hyperliquid", "deribit"]] = \
        msgspec.field(default_factory=lambda: ["binance"])  # venue feeds to connect; symbols below
    binance_channels: list[Literal["trades", "candles", "funding", "liquidations"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "funding", "liquidations"])  # USD-M: aggTrade, kline_1m, markPrice@1s, forceOrder
    binance_all_market: bool = False  # funding and liquidations of EVERY perpetual (!markPrice@arr@1s, !forceOrder@arr)
    binance_spot_symbols: list[str] = msgspec.field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])  # spot pairs
    binance_spot_channels: list[Literal["trades"]] = msgspec.field(default_factory=lambda: ["trades"])  # spot: trade
    bybit_symbols: list[str] = msgspec.field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])  # v5 linear perpetuals
    bybit_channels: list[Literal["trades", "candles", "funding", "liquidations"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "funding", "liquidations"])  # publicTrade, kline.1, tickers, allLiquidation
    bybit_spot_symbols: list[str] = msgspec.field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])  # v5 spot pairs
    bybit_spot_channels: list[Literal["trades", "candles", "prices"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "prices"])  # spot: publicTrade, kline.1, tickers (last price)
    okx_instruments: list[str] = msgspec.field(
        default_factory=lambda: ["BTC-USDT-SWAP", "ETH-USDT-SWAP"])  # instIds: <BASE>-<QUOTE>-SWAP or spot <BASE>-<QUOTE>
    okx_channels: list[Literal["trades", "candles", "funding", "liquidations"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "funding", "liquidations"])  # trades, candle1m, funding-rate + open-interest, liquidation-orders
    okx_contract_values: dict[str, str] = {}  # instId -> ctVal (base coin per contract); wins over OKX's own list
    hyperliquid_coins: list[str] = msgspec.field(default_factory=lambda: ["BTC", "ETH"])  # perp coins
    hyperliquid_channels: list[Literal["trades", "candles", "funding"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "funding"])  # trades (with addresses), candle 1m, activeAssetCtx
    deribit_instruments: list[str] = msgspec.field(
        default_factory=lambda: ["BTC-PERPETUAL", "ETH-PERPETUAL"])  # perpetuals: BTC-PERPETUAL, BTC_USDC-PERPETUAL
    deribit_channels: list[Literal["trades", "candles", "funding"]] = msgspec.field(
        default_factory=lambda: ["trades", "candles", "funding"])  # trades, chart.trades 1, ticker
    deribit_interval: Literal["100ms", "agg2", "raw"] = "100ms"  # notification interval; raw needs an authorized connection
    ws_idle_timeout_by_channel: dict[str, Seconds] = msgspec.field(default_factory=lambda: {
        "candles": 120.0, "funding": 120.0, "liquidations": 900.0})  # quiet channels wait longer; else ws_idle_timeout_s
    ws_status_interval_s: Seconds = 2.0  # how often each feed's state is written to Redis (<prefix>:feed:<name>)


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _parse_env_value(raw: str, annotation: Any) -> Any:
    """Env values are strings; lists are comma-separated, maps are k=v,k=v."""
    text = str(annotation)
    if text.startswith("list[") or "list[" in text:
        return [part.strip() for part in raw.split(",") if part.strip()]
    if text.startswith("dict[") or "dict[" in text:
        pairs = [part.split("=", 1) for part in raw.split(",") if part.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ConfigError(f"expected key=value pairs separated by commas, got {raw!r}")
        return {key.strip(): value.strip() for key, value in pairs}
    return raw


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from TOML (TRADEHUB_CONFIG), env and keyword overrides."""
    env = os.environ if env is None else env
    fields = {f.name: f.type for f in msgspec.structs.fields(Settings)}
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    path = env.get(ENV_PREFIX + "CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                toml = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"TRADEHUB_CONFIG={path}: cannot read: {exc}") from exc
        for key, value in toml.items():
            values[key] = value
            origin[key] = f"{key} in {path}"
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        field = name[len(ENV_PREFIX):].lower()
        if field.endswith("_file") and field[:-5] in fields:
            field = field[:-5]
            try:
                with open(raw, encoding="utf-8") as fh:
                    raw = fh.read().strip()
            except OSError as exc:
                raise ConfigError(f"{name}={raw}: cannot read secret file: {exc}") from exc
        if field not in fields:
            raise ConfigError(f"{name}: unknown setting (see docs/configuration.md)")
        try:
            values[field] = _parse_env_value(raw, fields[field])
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from exc
        origin[field] = name
    for key, value in overrides.items():
        values[key] = value
        origin[key] = key
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc, values, origin)) from exc


def _explain(exc: msgspec.ValidationError, values: dict[str, Any], origin: dict[str, str]) -> str:
    """Turn msgspec's `... - at $.field` into a message naming the variable or TOML key."""
    message = str(exc)
    head, _, where = message.partition(" - at `$.")
    field = where.split("`")[0].split(".")[0].split("[")[0]
    if not field:
        if "unknown field" in message.lower():
            return f"unknown setting in the TOML file: {message}"
        return message
    source = origin.get(field, _env_name(field))
    shown = "<secret>" if field in SECRETS else repr(values.get(field))
    return f"invalid setting {source}={shown}: {head}"


def public_view(settings: Settings) -> dict[str, Any]:
    """The settings with secrets masked, safe to log."""
    data = msgspec.structs.asdict(settings)
    for key in SECRETS & data.keys():
        data[key] = "<secret>" if data[key] else ""
    if "://" in str(data.get("redis_url")) and "@" in str(data["redis_url"]):
        data["redis_url"] = "<secret>"
    return data
