"""The whole stack as processes: simulator -> receivers -> Redis -> processor -> PostgreSQL -> API."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import DATABASE_URL, drop_schema
from tests.stack import Stack

pytestmark = pytest.mark.fault


async def stored_counts(schema: str) -> tuple[int, int]:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.trades"):
            return 0, 0
        row = await conn.fetchrow(
            f'SELECT count(*) AS n, count(DISTINCT (exchange, symbol, trade_id)) AS d FROM "{schema}".trades'
        )
        return int(row["n"]), int(row["d"])
    finally:
        await conn.close()


async def test_processor_sigkill_loses_nothing(tag: str, tmp_path: Path, redis) -> None:
    frames_per_symbol = 1500
    stack = Stack(tag, tmp_path, simulator_rate=250, simulator_max_frames=frames_per_symbol,
                  simulator_symbols="BTCUSDT,ETHUSDT", binance_symbols="BTCUSDT,ETHUSDT")
    try:
        stack.start("simulator")
        stack.wait_for("simulator", "/stats")
        for name in ("processor", "receivers", "api", "general"):
            stack.start(name)
        deadline = time.monotonic() + 60
        stored_before_kill = 0
        while stored_before_kill < 300 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            stored_before_kill, _ = await stored_counts(tag)
        stack.kill("processor")  # mid-stream: entries read but not acked stay pending
        await asyncio.sleep(1.5)
        stack.start("processor")
        deadline = time.monotonic() + 60
        sent = stored = distinct = -1
        while time.monotonic() < deadline:
            _, stats = stack.get("simulator", "/stats")
            sent = stats["total"]
            stored, distinct = await stored_counts(tag)
            if sent == 2 * frames_per_symbol and stored == sent:
                break
            await asyncio.sleep(0.5)
        assert 0 < stored_before_kill < sent, stack.logs()
        assert sent == 2 * frames_per_symbol, stack.logs()
        assert stored == sent, stack.logs()
        assert distinct == stored
        status, ready = stack.get("api", "/ready")
        assert status == 200, ready
        assert set(ready["services"]) == {"receivers", "processor", "general", "api"}
        codes = stack.stop_all()
        assert codes == {name: 0 for name in codes}, (codes, stack.logs())
    finally:
        stack.stop_all()
        await drop_schema(tag)
