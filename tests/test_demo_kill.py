"""The demo's kill test with the real services as processes: the receivers are SIGKILLed while the
simulated market keeps trading, started again, and every trade the market made is stored once, its
candles count it once, and the gap records say healed with the trades recovered (Binance USD-M and
spot: consecutive ids, REST history by id)."""
from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATABASE_URL
from tests.stack import ROOT, Stack
from tests.test_stack_faults import drop_schema, stored_counts

sys.path.insert(0, str(ROOT / "scripts"))
import demo_count  # noqa: E402

pytestmark = pytest.mark.fault
VENUES = ("binance", "binance_spot")
SYMBOLS = "BTCUSDT,ETHUSDT"
RATE = 40.0  # trades a second per symbol
DOWN_S = 4.0


def symbol_gaps(stack: Stack, since_us: int) -> list[dict[str, Any]]:
    """The run's gap records of one symbol each (a socket's outage record has none)."""
    try:
        status, body = stack.get("api", f"/api/v1/gaps?since={since_us}&limit=1000")
    except OSError:
        return []
    return [g for g in body["gaps"] if g["symbol"]] if status == 200 else []


async def test_receivers_killed_lose_no_trade(tag: str, tmp_path: Path, redis) -> None:
    stack = Stack(tag, tmp_path, simulator_rate=RATE, simulator_symbols=SYMBOLS, feeds="binance,binance_spot",
                  binance_symbols=SYMBOLS, binance_spot_symbols=SYMBOLS, binance_channels="trades",
                  backfill_position_interval_s=0.5)
    sim = f"http://127.0.0.1:{stack.ports['simulator']}"
    http, ws = sim, sim.replace("http://", "ws://")
    stack.env["TRADEHUB_VENUE_URLS"] = (f"binance={ws},binance_spot={ws}/spot,"
                                        f"binance_rest={http}/binance,binance_spot_rest={http}/binance_spot")
    since_us = time.time_ns() // 1000
    try:
        stack.start("simulator")
        stack.wait_for("simulator", "/stats")
        for name in ("processor", "receivers", "api"):
            stack.start(name)
        deadline = time.monotonic() + 40
        while (await stored_counts(tag))[0] < 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        stack.kill("receivers")  # SIGKILL: nothing flushed, nothing said
        made_at_kill = stack.get("simulator", "/stats")[1]["total"]
        await asyncio.sleep(DOWN_S)
        made_while_down = stack.get("simulator", "/stats")[1]["total"] - made_at_kill
        stack.start("receivers")
        deadline = time.monotonic() + 30
        while len(symbol_gaps(stack, since_us)) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)  # each symbol's first trade after the restart shows its jump
        demo_count.get_json(f"{sim}/control?mode=paused", method="POST")  # the market halts
        api = f"http://127.0.0.1:{stack.ports['api']}"
        venues = await asyncio.to_thread(demo_count.settled, sim, api, DATABASE_URL, tag, since_us, 40.0)
        summary = "\n".join(demo_count.lines(venues))
        gaps = symbol_gaps(stack, since_us)
        print(f"made while the receivers were down: {made_while_down}\n{summary}")
    finally:
        stack.stop_all()
        await drop_schema(tag)
    assert made_while_down >= RATE * 2 * len(VENUES) * DOWN_S * 0.5, (made_while_down, stack.logs())
    for name in VENUES:
        venue = venues[name]
        assert venue.made > 0 and venue.stored == venue.distinct == venue.made, (summary, stack.logs())
        assert venue.candles_exact and venue.minute_trades >= venue.made, summary  # each trade once
        assert set(venue.gaps) == {"healed"} and venue.gaps["healed"] >= 2, summary  # both symbols
    assert sum(g["recovered"] for g in gaps) >= made_while_down, summary
    for gap in gaps:
        assert gap["status"] == "healed" and gap["reason"] in ("restart", "sequence"), gap
        missing = int(gap["last_missing_id"]) - int(gap["first_missing_id"]) + 1
        assert gap["recovered"] == missing, gap
        assert (gap["first_recovered_id"], gap["last_recovered_id"]) == (gap["first_missing_id"],
                                                                          gap["last_missing_id"])
    assert any(g["reason"] == "restart" for g in gaps), summary
