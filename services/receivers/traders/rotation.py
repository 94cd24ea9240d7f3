"""The traders to track, as Redis holds them, so the order survives a restart: the watched set
(tracked every cycle, first) and the rotation, a sorted set address -> last tracked (ms, 0 = never)
that the processor fills as it discovers addresses (ZADD NX 0) and the tracker rescores.

Lowest score first is the fair order: never tracked first of all, then the least recently tracked.
Per trader, the tracker's cursor (newest fill read, coverage, when fills and equity were last read)
lives in a hash beside them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec
import redis.asyncio as aioredis

from shared.constants import trader_cursors_key, traders_rotation_key, traders_watch_key


class Cursor(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where the tracker is with one trader; times in ms."""

    fills_ms: int = 0  # the newest fill read (the next read starts there); 0: none yet
    fills_complete: bool | None = None  # None: never read; False: truncated, and it stays so
    fills_read_at: int = 0  # when the fills were last read
    equity_read_at: int = 0  # when the portfolio was last read


NEW = Cursor()
_cursor = msgspec.json.Decoder(Cursor)
_encode = msgspec.json.Encoder().encode


class Rotation:
    """Reads and writes the tracker's keys of one stream prefix."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.rotation_key = traders_rotation_key(prefix)
        self.watch_key = traders_watch_key(prefix)
        self.cursors_key = trader_cursors_key(prefix)

    async def watched(self) -> list[str]:
        """The watched addresses, in a stable order."""
        members = await self.redis.smembers(self.watch_key)
        return sorted(_text(m) for m in members)

    async def next(self, count: int, skip: Iterable[str] = ()) -> list[str]:
        """The `count` addresses tracked longest ago (never tracked first), `skip` left out."""
        skipped = set(skip)
        members = await self.redis.zrange(self.rotation_key, 0, count + len(skipped) - 1)
        addresses = (_text(m) for m in members if isinstance(m, bytes | str))
        return [a for a in addresses if a not in skipped][:count]

    async def rescore(self, tracked: Mapping[str, int]) -> None:
        """Each address -> the time (ms) it was tracked; never moved back (a late writer loses)."""
        if tracked:
            await self.redis.zadd(self.rotation_key, dict(tracked), gt=True)

    async def oldest_tracked_ms(self) -> int | None:
        """The last-tracked time of the trader tracked longest ago, never-tracked ones aside."""
        oldest = await self.redis.zrangebyscore(self.rotation_key, "(0", "+inf", start=0, num=1,
                                                withscores=True)
        return int(oldest[0][1]) if oldest else None

    async def sizes(self) -> dict[str, int]:
        """all / never_tracked / watched counts."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.rotation_key)
            pipe.zcount(self.rotation_key, 0, 0)
            pipe.scard(self.watch_key)
            total, never, watched = await pipe.execute()
        return {"all": int(total), "never_tracked": int(never), "watched": int(watched)}

    async def cursors(self, addresses: Iterable[str]) -> dict[str, Cursor]:
        """Each address's cursor (NEW when it has none, or an unreadable one)."""
        wanted = list(addresses)
        if not wanted:
            return {}
        values = await self.redis.hmget(self.cursors_key, wanted)
        return {address: _decoded(value) for address, value in zip(wanted, values, strict=True)}

    async def save_cursor(self, address: str, cursor: Cursor) -> None:
        await self.redis.hset(self.cursors_key, address, _encode(cursor))


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member


def _decoded(value: bytes | str | None) -> Cursor:
    if value is None:
        return NEW
    try:
        return _cursor.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return NEW  # read from scratch: fills are stored idempotently
