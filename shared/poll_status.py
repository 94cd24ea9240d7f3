"""Each REST poller's last outcome per venue, kept in Redis: the receivers write it after every
poll, /ready reads it, so a venue that keeps failing is visible without reading logs."""

from __future__ import annotations

import msgspec
import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from shared.constants import poll_status_key, poll_status_pattern
from shared.events import now_us


class PollStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One venue's last poll for one function; times in microseconds."""

    function: str
    venue: str
    ok: bool
    at: int  # when the last poll ended
    error: str = ""  # why it failed, "" after a success
    events: int = 0  # events the last successful poll published
    duration_ms: int = 0
    last_ok: int | None = None  # the last success, kept across failures


async def record_poll(redis: aioredis.Redis, prefix: str, status: PollStatus, ttl_s: int) -> None:
    """Write one outcome; a success also moves last_ok. The hash expires if the poller stops."""
    key = poll_status_key(prefix, status.function, status.venue)
    fields: dict[FieldT, EncodableT] = {
        "ok": int(status.ok),
        "at": status.at,
        "error": status.error,
        "events": status.events,
        "duration_ms": status.duration_ms,
    }
    if status.ok:
        fields["last_ok"] = status.at
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=fields)
        pipe.expire(key, ttl_s)
        await pipe.execute()


def _decode(key: bytes, fields: dict[bytes, bytes]) -> PollStatus | None:
    parts = key.decode().split(":")
    if len(parts) < 4 or b"ok" not in fields or b"at" not in fields:
        return None
    last_ok = fields.get(b"last_ok")
    return PollStatus(
        function=parts[-2],
        venue=parts[-1],
        ok=fields[b"ok"] == b"1",
        at=int(fields[b"at"]),
        error=fields.get(b"error", b"").decode(),
        events=int(fields.get(b"events", b"0")),
        duration_ms=int(fields.get(b"duration_ms", b"0")),
        last_ok=None if last_ok is None else int(last_ok),
    )


async def read_polls(redis: aioredis.Redis, prefix: str) -> list[PollStatus]:
    """Every venue's last outcome, for every function (expired ones are gone)."""
    keys = [key async for key in redis.scan_iter(match=poll_status_pattern(prefix), count=200)]
    if not keys:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        answers = await pipe.execute()
    statuses = [_decode(key, fields) for key, fields in zip(keys, answers, strict=True)]
    return sorted((s for s in statuses if s is not None), key=lambda s: (s.function, s.venue))


def age_s(status: PollStatus, now: int | None = None) -> float:
    """Seconds since the poll ended."""
    return round(((now_us() if now is None else now) - status.at) / 1e6, 3)
