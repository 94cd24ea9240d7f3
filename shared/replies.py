"""Redis replies as tradehub reads them: every client is made with decode_responses off, so ids,
keys and values arrive as bytes. redis-py's types also allow str (and None for a deleted stream
entry) because they cannot see that setting; these functions narrow a reply once, where it is read.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.typing import StreamRangeResponse

Fields = dict[bytes, bytes]


def text(raw: bytes | str) -> str:
    """A key, id or value as text."""
    return raw.decode() if isinstance(raw, bytes) else raw


def fields_of(raw: Mapping[bytes | str, bytes | str] | None) -> Fields:
    """A hash or stream entry's fields; TypeError if a client decodes replies after all."""
    fields: Fields = {}
    for key, value in (raw or {}).items():
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            raise TypeError(f"Redis reply decoded to text: {key!r}: {value!r}")
        fields[key] = value
    return fields


def entries_of(rows: StreamRangeResponse | None) -> list[tuple[bytes, Fields]]:
    """XRANGE's entries as (id, fields); an entry deleted under a pending id has none and is left out."""
    entries: list[tuple[bytes, Fields]] = []
    for entry_id, fields in rows or []:
        if entry_id is None or fields is None:
            continue
        if not isinstance(entry_id, bytes):
            raise TypeError(f"Redis reply decoded to text: {entry_id!r}")
        entries.append((entry_id, fields_of(fields)))
    return entries
