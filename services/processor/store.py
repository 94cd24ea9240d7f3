"""Storing events in PostgreSQL: COPY into a per-connection staging table, then one
INSERT ... ON CONFLICT, so a redelivered event changes nothing (or, for rows that
legitimately change such as an open candle, updates in place).

Each table is declared once as a `Table`; its staging and merge statements are
composed at import time from those constants, never from input.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg

from shared import metrics
from shared.breaker import SinkUnavailable
from shared.db import CONNECTION_ERRORS
from shared.events import Event, Trade

# asyncpg's binary COPY encodes NUMERIC with a 16-bit weight and scale: a Decimal of
# 1E+131072 or more is silently stored as 0, one with more than 16383 fractional
# digits raises mid-COPY, and Infinity/NaN are sent with sign codes that PostgreSQL
# before 14 rejects ("invalid sign in external numeric value"). No price or size is
# ever near these bounds, so anything outside them is refused before COPY.
NUMERIC_MAX = Decimal("1E+30")
NUMERIC_MIN_EXPONENT = -30


class RefusedValue(ValueError):
    """An event value PostgreSQL would mangle or refuse: the event goes to the DLQ."""


def checked(value: Decimal | None, what: str = "value") -> Decimal | None:
    """Refuse non-finite, huge or absurdly precise numbers before they reach COPY."""
    if value is None:
        return None
    exponent = value.as_tuple().exponent
    if not value.is_finite() or abs(value) >= NUMERIC_MAX or (isinstance(exponent, int) and exponent < NUMERIC_MIN_EXPONENT):
        raise RefusedValue(f"{what} cannot be stored as NUMERIC: {value}")
    return value


@dataclass(frozen=True)
class Table:
    """A table fed by one event kind: its columns, identity and row builder."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # the identity: ON CONFLICT target
    row: Callable[[Event], tuple[object, ...]]
    update: tuple[str, ...] = ()  # columns overwritten on conflict; empty = DO NOTHING
    stage_sql: str = field(init=False)
    merge_sql: str = field(init=False)

    def __post_init__(self) -> None:
        cols = ", ".join(self.columns)
        action = (
            "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in self.update) if self.update else "DO NOTHING"
        )
        object.__setattr__(self, "stage_sql",
                           f"CREATE TEMP TABLE IF NOT EXISTS {self.name}_stage "
                           f"(LIKE {self.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        object.__setattr__(self, "merge_sql",
                           f"INSERT INTO {self.name} ({cols}) SELECT {cols} FROM {self.name}_stage "
                           f"ON CONFLICT ({', '.join(self.key)}) {action}")


class EventStore:
    """A sink: the events of one batch go to their tables in one transaction."""

    def __init__(self, pool: asyncpg.Pool, tables: dict[type[Event], Table]) -> None:
        self.pool = pool
        self.tables = tables

    async def __call__(self, events: Sequence[Event]) -> None:
        rows: dict[Table, list[tuple[object, ...]]] = defaultdict(list)
        for event in events:
            table = self.tables.get(type(event))
            if table is not None:
                rows[table].append(table.row(event))
        if not rows:
            return
        started = time.perf_counter()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                for table, records in rows.items():
                    await conn.execute(table.stage_sql)
                    await conn.copy_records_to_table(f"{table.name}_stage", records=records, columns=table.columns)
                    await conn.execute(table.merge_sql)
        except CONNECTION_ERRORS as exc:
            raise SinkUnavailable(repr(exc)) from exc
        elapsed = time.perf_counter() - started
        for table, records in rows.items():
            metrics.EVENTS_STORED.labels(table.name).inc(len(records))
            metrics.STORE_SECONDS.labels(table.name).observe(elapsed)


def trade_row(t: Trade) -> tuple[object, ...]:  # type: ignore[override]
    return (t.exchange, t.symbol, t.trade_id, t.raw_symbol, checked(t.price, "price"), checked(t.size, "size"),
            t.side, checked(t.raw_size, "raw_size"), t.buyer, t.seller, t.ts, t.recv_ts)


TRADES = Table(
    name="trades",
    columns=("exchange", "symbol", "trade_id", "raw_symbol", "price", "size", "side", "raw_size", "buyer",
             "seller", "ts", "recv_ts"),
    key=("exchange", "symbol", "trade_id", "ts"),
    row=trade_row,  # type: ignore[arg-type]
)
