"""Where each feed stopped: the last trade key (id, sequence or ms) and its receive time per (venue,
symbol), in Redis, so a restarted receiver knows which trades it missed while it was away.

Hash `<prefix>:trade_position:<venue>`, field = normalized symbol, value = JSON Position. The
writer runs beside the sockets, never in a frame's path, and writes the positions of one interval
ago: by then the producer has flushed those trades to the stream (a SIGKILL loses only what it had
not flushed, and the restarted receiver fetches it again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.backoff import sleep_or_stop, until_stopped

log = logging.getLogger(__name__)
POSITION_TTL_S = 7 * 86_400  # a feed away for longer than a week starts afresh


class Position(msgspec.Struct, frozen=True, array_like=True):
    """The last trade a feed saw of one symbol."""

    trade_id: int  # its key: the trade id, Deribit's trade_seq, or Bybit's ms
    recv_ts: int  # µs
    raw_symbol: str
    seen: tuple[str, ...] = ()  # keys in ms: the trade ids at that ms (a restart skips them)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Position)
VenuePositions = dict[str, dict[str, Position]]  # venue -> symbol -> position


def position_key(prefix: str, venue: str) -> str:
    return f"{prefix}:trade_position:{venue}"


async def read_positions(redis: aioredis.Redis, prefix: str, venues: Iterable[str]) -> VenuePositions:
    """Every venue's stored positions; an unreadable one is left out (its feed starts afresh)."""
    found: VenuePositions = {}
    for venue in venues:
        stored = await redis.hgetall(position_key(prefix, venue))
        found[venue] = {}
        for symbol, value in stored.items():
            try:
                name = symbol.decode() if isinstance(symbol, bytes) else symbol
                found[venue][name] = _decoder.decode(value)
            except msgspec.DecodeError:
                log.warning("unreadable trade position", extra={"venue": venue, "symbol": symbol})
    return found


async def write_positions(redis: aioredis.Redis, prefix: str, positions: VenuePositions) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for venue, symbols in positions.items():
            if symbols:
                key = position_key(prefix, venue)
                pipe.hset(key, mapping={s: _encoder.encode(p) for s, p in symbols.items()})
                pipe.expire(key, POSITION_TTL_S)
        await pipe.execute()


class PositionWriter:
    """Writes `snapshot()` of one interval ago, every interval and once more at stop."""

    def __init__(self, redis: aioredis.Redis, prefix: str, snapshot: Callable[[], VenuePositions],
                 interval_s: float) -> None:
        self.redis = redis
        self.prefix = prefix
        self.snapshot = snapshot
        self.interval_s = interval_s

    async def _write(self, positions: Mapping[str, dict[str, Position]]) -> None:
        try:
            await write_positions(self.redis, self.prefix, dict(positions))
        except (RedisError, OSError) as exc:
            log.warning("trade positions not written", extra={"error": repr(exc)})

    async def run(self, stop: asyncio.Event) -> None:
        previous: VenuePositions = {}
        while not await sleep_or_stop(stop, self.interval_s):
            await until_stopped(self._write(previous), stop)
            previous = self.snapshot()
        try:  # one interval ago still: the producer's last flush at stop may fail
            async with asyncio.timeout(1.0):
                await self._write(previous)
        except TimeoutError:
            log.warning("last trade positions not written: redis did not answer")
