"""Each websocket feed's state, kept in Redis: the receivers write it every few seconds, /ready,
/api/v1/gaps and the general service read it, so a feed that keeps failing is never silently dead.

Key `<prefix>:feed:<feed name>` holds one JSON object (FeedStatus) with a TTL of a day; a status
not rewritten for a few intervals is stale (its receivers process is gone), which readers check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import metrics
from shared.backoff import LAST_WRITE_S, sleep_or_stop, until_stopped
from shared.constants import feed_status_key, feed_status_pattern
from shared.redis_connect import get_many

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()
# Kept a day: readers judge freshness from `at`, and a restarted receivers process reads the last
# data time of each feed from here, so the restart itself is recorded as a gap.
STATUS_TTL_S = 86_400
STALE_AFTER_INTERVALS = 3  # a status older than this many write intervals: its process is gone


class FeedStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One feed (one socket) as its connection sees it; times in microseconds since the epoch."""

    feed: str  # e.g. "bybit:0"
    exchange: str
    connected: bool
    at: int  # when this status was taken
    last_data_ts: int | None = None  # the last frame that carried data (pongs and acks do not count)
    connected_since: int | None = None
    outage_from: int | None = None  # set while the feed has no data flowing: the open gap's start
    reconnects: int = 0  # sessions that ended, since the process started
    failures: int = 0  # sessions in a row that ended without data: > 0 means failing now
    reason: str = ""  # why the last session ended: idle, planned, notice, closed, refused, ...
    frames: int = 0
    data_frames: int = 0
    bad_frames: int = 0
    idle_timeout_s: float = 0.0
    private: bool = False  # an account's private socket: silence is normal, a refused login is not


_status = msgspec.json.Decoder(FeedStatus)


async def write_feed_statuses(
    redis: aioredis.Redis, prefix: str, statuses: Iterable[FeedStatus], ttl_s: int
) -> None:
    """All feeds' states in one pipeline, each with a TTL."""
    async with redis.pipeline(transaction=False) as pipe:
        for status in statuses:
            pipe.set(feed_status_key(prefix, status.feed), _encoder.encode(status), ex=ttl_s)
        await pipe.execute()


async def read_feed_statuses(redis: aioredis.Redis, prefix: str) -> list[FeedStatus]:
    """Every feed's last written state (expired ones are gone), sorted by name."""
    keys = [key async for key in redis.scan_iter(match=feed_status_pattern(prefix), count=500)]
    if not keys:
        return []
    values = await get_many(redis, keys)
    statuses = []
    for key, value in zip(keys, values, strict=True):
        if value is None:
            continue
        try:
            statuses.append(_status.decode(value))
        except msgspec.DecodeError as exc:  # written by another version: shown as missing, said once here
            log.warning("unreadable feed status", extra={"key": key, "error": str(exc)})
    return sorted(statuses, key=lambda s: s.feed)


def silent_for_s(status: FeedStatus, now_us: int) -> float | None:
    """Seconds since the feed last had data (None before its first data frame)."""
    return None if status.last_data_ts is None else round((now_us - status.last_data_ts) / 1e6, 3)


class FeedStatusReporter:
    """Writes the states of a process's feeds every interval; a Redis outage is counted, never fatal."""

    def __init__(
        self, redis: aioredis.Redis, prefix: str, statuses: Callable[[], list[FeedStatus]], interval_s: float
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.statuses = statuses
        self.interval_s = interval_s
        self.ttl_s = STATUS_TTL_S

    async def write_once(self) -> bool:
        try:
            await write_feed_statuses(self.redis, self.prefix, self.statuses(), self.ttl_s)
            return True
        except (RedisError, OSError) as exc:
            metrics.REDIS_ERRORS.labels("feed_status").inc()
            log.warning("feed status not written", extra={"error": repr(exc)})
            return False

    async def run(self, stop: asyncio.Event) -> None:
        """Write every interval until stopped (a write Redis does not answer is cut short by the stop),
        then once more, within LAST_WRITE_S: the last state, disconnected, so readers see the stop."""
        while not stop.is_set():
            await until_stopped(self.write_once(), stop)
            await sleep_or_stop(stop, self.interval_s)
        try:
            async with asyncio.timeout(LAST_WRITE_S):
                await self.write_once()
        except TimeoutError:
            log.warning("last feed status not written: redis did not answer",
                        extra={"within_s": LAST_WRITE_S})


def feed_state(status: FeedStatus, ok: bool, stale: bool) -> str:
    """In a word: ok, auth failed (an account's login refused), stale, reconnecting or silent."""
    if ok:
        return "ok"
    if stale:
        return "stale"
    if status.reason == "auth_failed" and not status.connected:
        return "auth failed"
    return "silent" if status.connected else "reconnecting"


def feed_report(statuses: list[FeedStatus], now_us: int, interval_s: float) -> dict[str, object]:
    """The feeds section of /ready: per feed ok / silent / failing, and the names of the bad ones.

    ok = connected, reporting, and data within its idle timeout. Informative: one venue's outage
    is the venue's, so it is shown, never counted against the platform's readiness."""
    by_feed: dict[str, dict[str, object]] = {}
    for s in statuses:
        stale = (now_us - s.at) / 1e6 > STALE_AFTER_INTERVALS * interval_s
        silent = silent_for_s(s, now_us)
        fresh = s.private or (silent is not None and silent <= s.idle_timeout_s + interval_s)
        ok = s.connected and not stale and fresh
        by_feed[s.feed] = {
            "ok": ok,
            "state": feed_state(s, ok, stale),
            "exchange": s.exchange,
            "connected": s.connected,
            "silent_s": silent,
            "reconnects": s.reconnects,
            "failures": s.failures,
            "reason": s.reason or None,
            "outage_s": None if s.outage_from is None else round((now_us - s.outage_from) / 1e6, 3),
            "bad_frames": s.bad_frames,
            "stale": stale,
        }
    return {
        "count": len(by_feed),
        "not_ok": sorted(name for name, f in by_feed.items() if not f["ok"]),
        "by_feed": by_feed,
    }
