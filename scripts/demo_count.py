"""The demo's count, per simulated venue: trades the simulator made (each was sent to the
sockets subscribed then, and is in the venue's REST history), trades stored in PostgreSQL (and
duplicates), the derived 1m candles' trade count against the stored trades (no trade counted twice),
and the gap records of the run (GET /api/v1/gaps): healed, partial or unrecoverable, with the
trades recovered. scripts/stack.py prints it when a demo ends; tests/test_demo_kill.py checks it."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

MINUTE_US = 60_000_000
SPLIT = ("binance", "bybit")  # venues whose spot and perpetual are two simulated venues (feed *_spot)
# per venue and market kind, since a time: trades stored (rows, distinct ids) and by exchange time
STORED = """
SELECT exchange, symbol LIKE '%-PERP' AS perp, count(*) AS rows,
       count(DISTINCT (symbol, trade_id)) AS distinct_ids
FROM trades WHERE recv_ts >= $1 GROUP BY 1, 2
"""
TRADES_FROM = """
SELECT exchange, symbol LIKE '%-PERP' AS perp, count(*) AS n FROM trades WHERE ts >= $1 GROUP BY 1, 2
"""
CANDLE_TRADES_FROM = """
SELECT exchange, symbol LIKE '%-PERP' AS perp, sum(trades)::bigint AS n FROM candles
WHERE source = 'derived' AND interval = '1m' AND ts >= $1 GROUP BY 1, 2
"""


@dataclass
class VenueCount:
    made: int = 0
    stored: int = 0
    distinct: int = 0
    candle_trades: int = 0  # trades the derived 1m candles of the run's minutes count...
    minute_trades: int = 0  # ...and the stored trades of those minutes (an earlier run's too, on both sides)
    gaps: Counter[str] = field(default_factory=Counter)  # status -> records
    recovered: int = 0

    @property
    def complete(self) -> bool:
        return self.stored == self.distinct == self.made

    @property
    def candles_exact(self) -> bool:
        return self.candle_trades == self.minute_trades


def venue_of(exchange: str, perp: bool) -> str:
    """The simulated venue a stored row came from: binance spot rows from binance_spot, ..."""
    return exchange if exchange not in SPLIT or perp else f"{exchange}_spot"


def get_json(url: str, method: str = "GET") -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as response:
        return json.loads(response.read())


Counts = dict[str, tuple[int, int, int, int]]


async def stored_counts(database_url: str, schema: str, since_us: int) -> Counts:
    """venue -> (rows, distinct ids, candle trades, trades) of this run (candles: from its first minute)."""
    first_minute = since_us // MINUTE_US * MINUTE_US
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        stored = await conn.fetch(STORED, since_us)
        trades = await conn.fetch(TRADES_FROM, first_minute)
        candles = await conn.fetch(CANDLE_TRADES_FROM, first_minute)
    finally:
        await conn.close()
    counts: dict[str, list[int]] = {}
    for rows, index in ((stored, 0), (candles, 2), (trades, 3)):
        for row in rows:
            entry = counts.setdefault(venue_of(row["exchange"], row["perp"]), [0, 0, 0, 0])
            if index == 0:
                entry[0], entry[1] = row["rows"], row["distinct_ids"]
            else:
                entry[index] = row["n"] or 0
    return {venue: (a, b, c, d) for venue, (a, b, c, d) in counts.items()}


def metric_sum(url: str, name: str) -> int | None:
    """The sum of a counter over its labels on a Prometheus text page; None when it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name + "{") or line.startswith(name + " ")))


def count(sim: str, api: str, url: str, schema: str, since_us: int) -> dict[str, VenueCount]:
    """Every venue that made or stored a trade in this run, or recorded a gap (`url`: PostgreSQL's)."""
    made = {name: v["made"] for name, v in get_json(f"{sim}/stats")["venues"].items()}
    venues: dict[str, VenueCount] = {name: VenueCount(made=n) for name, n in made.items() if n}
    for name, (rows, distinct, candle, minute) in asyncio.run(stored_counts(url, schema, since_us)).items():
        venue = venues.setdefault(name, VenueCount())
        venue.stored, venue.distinct = rows, distinct
        venue.candle_trades, venue.minute_trades = candle, minute
    for gap in get_json(f"{api}/api/v1/gaps?since={since_us}&limit=1000")["gaps"]:
        if not gap["symbol"] and not gap["status"]:
            continue  # a socket's outage, judged symbol by symbol in the records beside it
        venue = venues.setdefault(gap["feed"].split(":")[0], VenueCount())
        venue.gaps[gap["status"] or "recorded"] += 1
        venue.recovered += gap["recovered"] or 0
    return venues


def settled(sim: str, api: str, database_url: str, schema: str, since_us: int,
            wait_s: float = 60.0) -> dict[str, VenueCount]:
    """The count once the pipeline has drained and the backfills are done: every venue complete
    and its candles exact, or nothing changed for 5 s, or `wait_s` passed."""
    deadline, last, same_since = time.monotonic() + wait_s, None, time.monotonic()
    while True:
        venues = count(sim, api, database_url, schema, since_us)
        now = time.monotonic()
        if all(v.complete and v.candles_exact for v in venues.values() if v.made):
            return venues
        shape = {n: (v.stored, v.candle_trades, sum(v.gaps.values())) for n, v in venues.items()}
        if shape != last:
            last, same_since = shape, now
        if now - same_since >= 5 or now >= deadline:
            return venues
        time.sleep(1)


def lines(venues: dict[str, VenueCount]) -> list[str]:
    out = [f"  {'venue':<13}{'sent (made)':>12}{'stored':>9}{'dupes':>7}  {'candles':<9} gaps"]
    for name, v in sorted(venues.items()):
        gaps = ", ".join(f"{n} {status}" for status, n in sorted(v.gaps.items())) or "none"
        if v.recovered:
            gaps += f" ({v.recovered} trades recovered)"
        verdict = "complete" if v.complete else f"missing {v.made - v.distinct}" if v.made else ""
        candles = "exact" if v.candles_exact else f"{v.candle_trades}/{v.minute_trades}"
        out.append(f"  {name:<13}{v.made:>12}{v.stored:>9}{v.stored - v.distinct:>7}  {candles:<9} {gaps}"
                   f"{'  ' + verdict if verdict else ''}")
    return out
