"""Dead-letter queues: <stream>:dlq holds entries that kept failing, with why and where from."""
from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from shared.constants import ENTRY_VERSION, FIELD_EVENTS, FIELD_VERSION, dlq_key
from shared.replies import Fields, entries_of


async def dead_letter(redis: aioredis.Redis, stream: str, group: str, entry_id: bytes, payload: bytes,
                      error: str, consumer: str) -> None:
    """Copy the entry to the DLQ, then ack it in its group (in one MULTI, so never both lost)."""
    fields: dict[FieldT, EncodableT] = {
        FIELD_VERSION: ENTRY_VERSION,
        FIELD_EVENTS: payload,
        b"orig_id": entry_id,
        b"error": error.encode(),
        b"consumer": consumer.encode(),
        b"group": group.encode(),
        b"at_ms": str(int(time.time() * 1000)).encode(),
    }
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(dlq_key(stream), fields)
        pipe.xack(stream, group, entry_id)
        await pipe.execute()


async def list_dead(redis: aioredis.Redis, stream: str, count: int = 100) -> list[dict[str, Any]]:
    """The DLQ's entries, oldest first, without their payloads."""
    rows = entries_of(await redis.xrange(dlq_key(stream), count=count))
    return [
        {
            "id": entry_id.decode(),
            "orig_id": f.get(b"orig_id", b"").decode(),
            "error": f.get(b"error", b"").decode(),
            "consumer": f.get(b"consumer", b"").decode(),
            "at_ms": int(f.get(b"at_ms", b"0")),
            "bytes": len(f.get(FIELD_EVENTS, b"")),
        }
        for entry_id, f in rows
    ]


async def get_dead(redis: aioredis.Redis, stream: str, entry_id: str) -> Fields | None:
    rows = entries_of(await redis.xrange(dlq_key(stream), min=entry_id, max=entry_id, count=1))
    return rows[0][1] if rows else None


async def replay(redis: aioredis.Redis, stream: str, ids: list[str] | None = None) -> int:
    """Put dead entries back on their stream (new ids) and remove them from the DLQ."""
    rows = entries_of(await redis.xrange(dlq_key(stream)))
    moved = 0
    for entry_id, fields in rows:
        if ids and entry_id.decode() not in ids:
            continue
        async with redis.pipeline(transaction=True) as pipe:
            version = fields.get(FIELD_VERSION, ENTRY_VERSION)
            pipe.xadd(stream, {FIELD_VERSION: version, FIELD_EVENTS: fields[FIELD_EVENTS]})
            pipe.xdel(dlq_key(stream), entry_id)
            await pipe.execute()
        moved += 1
    return moved


async def purge(redis: aioredis.Redis, stream: str) -> int:
    depth = int(await redis.xlen(dlq_key(stream)))
    await redis.delete(dlq_key(stream))
    return depth
