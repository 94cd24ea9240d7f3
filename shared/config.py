"""One frozen settings object, read once at start from TRADEHUB_* variables and an
optional TOML file (TRADEHUB_CONFIG), validated with errors that name the variable.

Precedence: defaults < TOML file < environment. A secret may come from a file:
TRADEHUB_<NAME>_FILE=/run/secrets/x reads the setting <name> from that file.
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

ENV_PREFIX = "TRADEHUB_"
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
SECRETS = frozenset({"database_url", "telegram_token", "api_keys", "s3_secret_key", "exchange_keys_secret"})


class ConfigError(Exception):
    """A setting is missing, unknown or invalid; the message names it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every knob of every service; see docs/configuration.md for what each one does."""

    # connections
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    db_schema: Annotated[str, msgspec.Meta(pattern=r"^[a-z_][a-z0-9_]*$")] = "public"
    db_pool_size: Positive = 4
    # streams
    stream_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:-]+$")] = "th"
    stream_partitions: Positive = 1
    stream_maxlen: Positive = 200_000  # entries per stream, MAXLEN ~
    stream_maxlen_by_family: dict[str, Positive] = {}
    producer_batch_events: Positive = 256  # events packed in one entry
    producer_flush_ms: Positive = 50
    producer_buffer_events: Positive = 200_000  # in-memory while Redis is away
    producer_lag_fraction: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.8
    consumer_batch_entries: Positive = 64
    consumer_block_ms: Positive = 1000
    consumer_max_in_flight: Positive = 256  # entries read but not yet acked
    consumer_claim_idle_ms: Positive = 30_000
    consumer_max_deliveries: Positive = 5
    breaker_fail_max: Positive = 3
    breaker_reset_s: Seconds = 5.0
    # services
    service_instance: str = ""
    heartbeat_interval_s: Seconds = 5.0
    shutdown_timeout_s: Seconds = 10.0
    log_level: Annotated[str, msgspec.Meta(pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")] = "INFO"
    bind_host: str = "127.0.0.1"
    api_port: Port = 8000
    receivers_metrics_port: Port = 9101
    processor_metrics_port: Port = 9102
    general_metrics_port: Port = 9103
    api_max_limit: Positive = 1000
    # receivers
    binance_symbols: list[str] = msgspec.field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])
    venue_urls: dict[str, str] = {}  # venue -> base url override (the simulator in a demo)
    ws_idle_timeout_s: Seconds = 30.0
    ws_backoff_max_s: Seconds = 30.0
    # simulator
    simulator_port: Port = 8765
    simulator_rate: Annotated[float, msgspec.Meta(gt=0)] = 50.0  # frames/s per symbol
    simulator_symbols: list[str] = msgspec.field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])
    simulator_seed: int = 1
    simulator_max_frames: Annotated[int, msgspec.Meta(ge=0)] = 0  # per symbol, 0 = unlimited


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
