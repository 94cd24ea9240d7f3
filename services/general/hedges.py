"""The LP hedge monitor: per configured pool and asset, the short the holding requires (pool tokens
held x tokens per pool token, from the pool's source) against the shorts stored from the user's
accounts; the drift in tokens, USD and %, a snapshot row each run, and an alert past
`hedge_drift_alert_pct` (raised once while it lasts, with a recovery when it ends). docs/hedges.md
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from decimal import Decimal

import aiohttp
import asyncpg
import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.general.pools import PoolExposure, PoolSourceError, Source, sources
from services.general.watch import make_alert
from shared import metrics
from shared.backoff import sleep_or_stop
from shared.config import Settings
from shared.db import DB_ERRORS
from shared.decimals import percent
from shared.events import Alert, HedgeStatus, now_us
from shared.settings import HedgePool
from shared.streams import StreamProducer

log = logging.getLogger(__name__)

# the short positions stored from the accounts (080_accounts.sql): size < 0 is short
SHORTS_QUERY = """
SELECT account, exchange, symbol, size, mark_price, ts
FROM account_positions
WHERE size < 0 AND symbol LIKE '%-PERP' AND ($1::text[] IS NULL OR account = ANY($1::text[]))
"""
SPOT_QUERY = """
SELECT price FROM spot_prices WHERE symbol = ANY($1::text[]) ORDER BY ts DESC LIMIT 1
"""
SNAPSHOT_INSERT = """
INSERT INTO hedge_snapshots (pool, asset, ts, source, pool_asset, held_units, per_unit, required, hedge,
                             drift, drift_pct, price, drift_usd)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (pool, asset, ts) DO NOTHING
"""
USD_QUOTES = ("USD", "USDT", "USDC")


class Short(msgspec.Struct, frozen=True):
    """A stored short position: size is its absolute amount in base tokens."""

    base: str
    size: Decimal
    mark: Decimal | None
    ts: int


class HedgeLine(msgspec.Struct, frozen=True):
    """One pool and hedge asset in one run: what is required, what is held, how far apart."""

    pool: str
    asset: str  # hedge base asset
    pool_asset: str
    source: str
    held_units: Decimal  # pool tokens held
    per_unit: Decimal  # asset tokens per pool token
    required: Decimal  # short required, tokens
    hedge: Decimal  # short held, tokens
    drift: Decimal  # hedge - required (> 0: over-hedged)
    drift_pct: Decimal | None  # drift / required x 100
    price: Decimal | None
    drift_usd: Decimal | None


def shorts_by_base(shorts: Iterable[Short]) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for short in shorts:
        total[short.base] = total.get(short.base, Decimal(0)) + short.size
    return total


def hedge_lines(name: str, pool: HedgePool, exposure: PoolExposure, held: dict[str, Decimal],
                prices: dict[str, Decimal]) -> list[HedgeLine]:
    """Required vs held per hedge asset (pool assets mapped by `assets`, e.g. WBTC -> BTC)."""
    lines = []
    for item in exposure.assets:
        asset = pool.assets.get(item.asset, item.asset)
        required = pool.held * item.per_unit
        hedge = held.get(asset, Decimal(0))
        drift = hedge - required
        price = item.price if item.price is not None else prices.get(asset)
        lines.append(HedgeLine(
            pool=name, asset=asset, pool_asset=item.asset, source=pool.source, held_units=pool.held,
            per_unit=item.per_unit, required=required, hedge=hedge, drift=drift,
            drift_pct=percent(drift, required) if required else None, price=price,
            drift_usd=drift * price if price is not None else None))
    return lines


def past_threshold(line: HedgeLine, threshold_pct: Decimal) -> bool:
    """|drift| beyond the threshold share of the required short; any hedge where none is required."""
    if line.drift_pct is None:
        return line.hedge != 0
    return abs(line.drift_pct) > threshold_pct


def drift_alert(line: HedgeLine, threshold_pct: Decimal) -> Alert:
    over = "over-hedged" if line.drift > 0 else "under-hedged"
    usd = f" (${line.drift_usd:,.2f})" if line.drift_usd is not None else ""
    pct = f"{line.drift_pct:.2f}%" if line.drift_pct is not None else "no short required"
    text = (f"required short {line.required:f} {line.asset}, held {line.hedge:f}; drift {line.drift:f}"
            f"{usd}, {pct} (threshold {threshold_pct}%)")
    return make_alert(alert_key(line), "warning", f"Hedge {line.pool} {line.asset} {over}", text, "hedges")


def alert_key(line: HedgeLine) -> str:
    return f"hedge:{line.pool}:{line.asset}"


class HedgeMonitor:
    """Reads each pool, compares, stores and alerts; one pool's failure never stops the others."""

    def __init__(self, settings: Settings, redis: aioredis.Redis, producer: StreamProducer,
                 session: aiohttp.ClientSession, readers: dict[str, Source] | None = None) -> None:
        self.settings = settings
        self.redis = redis
        self.producer = producer
        self.session = session
        self.readers = readers if readers is not None else sources()
        self.threshold = Decimal(str(settings.hedges.drift_alert_pct))
        self.raised_key = f"{settings.streams.prefix}:hedges:alerted"

    async def run_once(self, conn: asyncpg.Connection) -> list[HedgeLine]:
        """Every configured pool once; returns the lines stored."""
        lines: list[HedgeLine] = []
        for name, pool in sorted(self.settings.hedges.pools.items()):
            try:
                exposure = await self.readers[pool.source](self.session, self.settings.venues, pool)
            except PoolSourceError as exc:
                metrics.HEDGE_RUNS.labels(name, "source_failed").inc()
                log.warning("hedge pool source failed", extra={"pool": name, "error": str(exc)[:500]})
                continue
            pool_lines = await self.compare(conn, name, pool, exposure)
            metrics.HEDGE_RUNS.labels(name, "ok").inc()
            lines += pool_lines
        return lines

    async def compare(self, conn: asyncpg.Connection, name: str, pool: HedgePool,
                      exposure: PoolExposure) -> list[HedgeLine]:
        shorts = await stored_shorts(conn, pool.accounts or None)
        wanted = {pool.assets.get(a.asset, a.asset) for a in exposure.assets}
        prices = await prices_of(conn, wanted, [s for s in shorts if s.base in wanted])
        lines = hedge_lines(name, pool, exposure, shorts_by_base(shorts), prices)
        ts = now_us()
        await conn.executemany(SNAPSHOT_INSERT, [
            (ln.pool, ln.asset, ts, ln.source, ln.pool_asset, ln.held_units, ln.per_unit, ln.required,
             ln.hedge, ln.drift, ln.drift_pct, ln.price, ln.drift_usd) for ln in lines])
        for line in lines:
            record_metrics(line)
            self.producer.publish(hedge_status(line, ts))  # for the alert rules (kind hedge_drift)
            await self.alert(line)
        return lines

    async def alert(self, line: HedgeLine) -> None:
        """One alert when a drift passes the threshold, one recovery when it is back; the state is
        kept in Redis so a restart does not repeat an alert still standing."""
        key = alert_key(line)
        try:
            if past_threshold(line, self.threshold):
                if await self.redis.sadd(self.raised_key, key):
                    self.producer.publish(drift_alert(line, self.threshold))
                    metrics.ALERTS_RAISED.labels("hedges").inc()
            elif await self.redis.srem(self.raised_key, key):
                self.producer.publish(make_alert(
                    key, "info", f"Hedge {line.pool} {line.asset} back within {self.threshold}%",
                    f"required {line.required:f}, held {line.hedge:f}", "hedges"))
        except (RedisError, OSError) as exc:
            log.warning("hedge alert state not read", extra={"key": key, "error": repr(exc)})


def hedge_status(line: HedgeLine, ts: int) -> HedgeStatus:
    return HedgeStatus(pool=line.pool, asset=line.asset, required=line.required, hedge=line.hedge,
                       drift=line.drift, drift_pct=line.drift_pct, drift_usd=line.drift_usd,
                       ts=ts, recv_ts=ts)


def record_metrics(line: HedgeLine) -> None:
    labels = (line.pool, line.asset)
    metrics.HEDGE_REQUIRED.labels(*labels).set(float(line.required))
    metrics.HEDGE_HELD.labels(*labels).set(float(line.hedge))
    metrics.HEDGE_DRIFT.labels(*labels).set(float(line.drift))
    if line.drift_pct is not None:
        metrics.HEDGE_DRIFT_PCT.labels(*labels).set(float(line.drift_pct))


async def stored_shorts(conn: asyncpg.Connection, accounts: list[str] | None) -> list[Short]:
    rows = await conn.fetch(SHORTS_QUERY, accounts)
    return [Short(base=row["symbol"].split("-")[0], size=-row["size"], mark=row["mark_price"], ts=row["ts"])
            for row in rows]


async def prices_of(conn: asyncpg.Connection, assets: set[str], shorts: list[Short]) -> dict[str, Decimal]:
    """USD per token: the newest mark of the matched shorts, else the newest stored spot price."""
    prices: dict[str, Decimal] = {}
    for short in sorted(shorts, key=lambda s: s.ts):
        if short.mark is not None:
            prices[short.base] = short.mark
    for asset in sorted(assets - prices.keys()):
        price = await conn.fetchval(SPOT_QUERY, [f"{asset}-{quote}" for quote in USD_QUOTES])
        if price is not None:
            prices[asset] = price
    return prices


async def hedge_schedule(settings: Settings, redis: aioredis.Redis, producer: StreamProducer,
                         session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
    """Every `hedge_interval_s`, the first run at start; a database outage is logged and retried."""
    monitor = HedgeMonitor(settings, redis, producer, session)
    while not stop.is_set():
        try:
            conn = await asyncpg.connect(settings.database_url,
                                         server_settings={"search_path": settings.db_schema})
            try:
                await monitor.run_once(conn)
            finally:
                await conn.close()
        except DB_ERRORS as exc:
            log.error("hedge monitor run failed", extra={"error": repr(exc)})
        if await sleep_or_stop(stop, settings.hedges.interval_s):
            return
