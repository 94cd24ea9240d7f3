"""`python -m services.general rules add|list|remove|test` on a real PostgreSQL schema."""
from __future__ import annotations

import json
from decimal import Decimal

import asyncpg
import pytest

from services.general.cli import parser, run_command
from shared.config import Settings
from shared.events import now_us

FUNDING_ROW = """
INSERT INTO funding_rates (exchange, symbol, ts, raw_symbol, rate, interval_hours, annualized, recv_ts)
VALUES ($1, 'BTC-USDT-PERP', $2, 'BTCUSDT', $3::numeric, 8, $3::numeric * 1095, $2)
"""


async def cli(settings: Settings, *words: str) -> int:
    return await run_command(parser().parse_args(["rules", *words]), settings)


async def test_add_list_test_remove(settings: Settings, pool: asyncpg.Pool,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli(settings, "add", "funding", "op=above", "level=0.5", "--cooldown", "600",
                     "--chat", "777") == 0
    added = capsys.readouterr().out
    rule_id = int(added.split()[1])
    assert await cli(settings, "list") == 0
    listed = json.loads(capsys.readouterr().out.strip())
    assert listed["params"] == {"op": "above", "level": "0.5"} and listed["chat"] == "777"

    now = now_us()
    minute = 60_000_000
    for n, (venue, rate) in enumerate([("binance", "0.0001"), ("okx", "0.0005"), ("bybit", "0.0006"),
                                        ("binance", "0.0009")]):
        await pool.execute(FUNDING_ROW, venue, now - (40 - 5 * n) * minute, Decimal(rate))
    await pool.execute(FUNDING_ROW, "okx", now - 2 * 3600 * 1_000_000, Decimal("0.01"))  # over an hour ago
    assert await cli(settings, "test", str(rule_id)) == 0
    out = capsys.readouterr().out
    # okx at 0.5475 fires; bybit 5 minutes later is inside the 600 s cooldown; binance 10 later fires
    assert out.count("would have fired") == 2, out
    assert "okx" in out and "binance" in out and "bybit" not in out
    assert f"rule {rule_id}: 2 times in the last 1 h (4 events replayed)" in out

    assert await cli(settings, "remove", str(rule_id)) == 0
    assert await cli(settings, "remove", str(rule_id)) == 1
    assert await cli(settings, "list") == 0
    assert "funding" not in capsys.readouterr().out


async def test_a_wrong_rule_is_refused(settings: Settings, pool: asyncpg.Pool,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli(settings, "add", "funding", "op=sideways", "level=1") == 1
    assert "op must be one of" in capsys.readouterr().err
    assert await cli(settings, "add", "price", "level") == 1
