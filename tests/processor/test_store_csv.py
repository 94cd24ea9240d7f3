"""The CSV fast path of the store: taken only for batches it can write unambiguously, and
every value arrives exactly as the binary records path would store it."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import pytest

from services.processor.store import TRADES, EventStore, RefusedValue, payload_of
from shared.events import Trade


def trade(n: int, **fields: object) -> Trade:
    base: dict[str, object] = dict(
        exchange="hyperliquid",
        symbol="BTC-USD-PERP",
        raw_symbol="BTC",
        trade_id=str(n),
        price=Decimal("65000.5"),
        size=Decimal("0.01"),
        side="buy",
        ts=1_763_000_000_000_000 + n,
        recv_ts=1_763_000_000_000_000 + n,
    )
    base.update(fields)
    return Trade(**base)


AWKWARD = [
    {"trade_id": "1,2"},
    {"raw_symbol": 'BTC"USD'},
    {"buyer": ""},
    {"seller": "line\nbreak"},
    {"raw_symbol": "carriage\rreturn"},
    {"raw_symbol": ""},
]
LITERAL = [{"buyer": "\\N"}, {"seller": "ünïcode"}, {"raw_symbol": " spaced "}]  # CSV takes these as they are


def test_clean_batches_go_as_csv_and_awkward_ones_as_records() -> None:
    clean = [trade(1, buyer="0xabc", seller=None, raw_size=Decimal("3")), trade(2, price=Decimal("1E+5"))]
    assert isinstance(payload_of(TRADES, clean), bytes)
    for fields in LITERAL:
        batch = [trade(1), trade(2, **fields)]
        assert isinstance(payload_of(TRADES, batch), bytes), fields
    for fields in AWKWARD:
        batch = [trade(1), trade(2, **fields)]
        assert isinstance(payload_of(TRADES, batch), list), fields


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1E+30", "1E-31"])
def test_the_csv_path_refuses_what_the_records_path_refuses(value: str) -> None:
    with pytest.raises(RefusedValue):
        payload_of(TRADES, [trade(1, price=Decimal(value))])


async def test_every_value_is_stored_exactly_whichever_path(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, {Trade: TRADES})
    clean = [
        trade(n, price=Decimal(p), raw_size=Decimal("0E-8") if n % 2 else None, buyer="0x" + str(n))
        for n, p in enumerate(["0", "-1E-8", "1E+5", "123.4500", "99999999999999.99999999"])
    ]
    awkward = [trade(100 + n, **fields) for n, fields in enumerate(AWKWARD + LITERAL)]
    await store(clean)
    await store(awkward)
    rows = {r["trade_id"]: r for r in await pool.fetch("SELECT * FROM trades")}
    for event in clean + awkward:
        row = rows[event.trade_id]
        assert (row["raw_symbol"], row["buyer"], row["seller"], row["side"], row["ts"]) == (
            event.raw_symbol,
            event.buyer,
            event.seller,
            event.side,
            event.ts,
        )
        assert (row["price"], row["size"], row["raw_size"]) == (event.price, event.size, event.raw_size)
