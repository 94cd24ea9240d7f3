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


TRADE_ROW = """
INSERT INTO trades (exchange, symbol, trade_id, raw_symbol, price, size, side, ts, recv_ts)
VALUES ($1, 'BTC-USDT-PERP', $2::bigint::text, 'BTCUSDT', 1, 1, 'buy', $2::bigint, $2::bigint)
"""
HEDGE_ROW = """
INSERT INTO hedge_snapshots (pool, asset, ts, source, pool_asset, held_units, per_unit, required, hedge,
                             drift, drift_pct, price, drift_usd)
VALUES ('jlp', 'SOL', $1, 'jlp', 'SOL', 1, 1, 100, $2::numeric, $2::numeric - 100, $2::numeric - 100,
        NULL, NULL)
"""


async def test_the_operations_kinds_replay_where_their_data_is_stored(
        settings: Settings, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]) -> None:
    minute = 60_000_000
    now = now_us()
    # bybit trades 30 and 20 minutes ago, then nothing; okx trades every minute until a minute ago
    for venue, ago in [("bybit", 30), ("bybit", 20), *(("okx", m) for m in range(1, 40))]:
        await pool.execute(TRADE_ROW, venue, now - ago * minute)
    for ago, held in [(50, "96"), (40, "94.9"), (35, "90"), (10, "106")]:
        await pool.execute(HEDGE_ROW, now - ago * minute, Decimal(held))
    rules = {}
    for kind, params in [("feed_silent", "silent_s=300"), ("hedge_drift", "pct=5"),
                         ("stream_lag", "share=0.5")]:
        assert await cli(settings, "add", kind, params, "--cooldown", "600") == 0
        rules[kind] = capsys.readouterr().out.split()[1]

    assert await cli(settings, "test", rules["feed_silent"]) == 0
    out = capsys.readouterr().out
    # bybit: silent 10 minutes between its trades, then 20 up to now; the second is 10 min after the
    # first (past the cooldown); okx never over 5 minutes
    assert out.count("would have fired") == 2 and out.count("bybit trades silent") == 2, out
    assert "okx" not in out and "receive times replayed" in out

    assert await cli(settings, "test", rules["hedge_drift"]) == 0
    out = capsys.readouterr().out  # 94.9 fires; 90 is inside the cooldown; 106 fires
    assert out.count("would have fired") == 2 and "under-hedged" in out and "over-hedged" in out, out
    assert "(4 events replayed)" in out

    assert await cli(settings, "test", rules["stream_lag"]) == 1
    assert "cannot be replayed: stream lag is measured" in capsys.readouterr().err
