"""`rules test`: the stored events of a window (funding rows, spot prices, liquidations, large trades,
spikes, trader position changes, hedge snapshots) replayed through one rule in time order, with its
cooldown on the events' clock: when it would have fired. Mark prices are not stored
(services/processor/sinks.py), so a price rule replays on the stored spot prices. A feed_silent rule
replays on the receive times of its family's stored rows (the silences between them, and the one up
to the window's end). Stream lag is measured, never stored: a stream_lag rule cannot be replayed
(NOT_REPLAYABLE says so)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from services.processor.rules import Fire, Memory, evaluate
from services.processor.rules_silence import KIND as SILENT
from services.processor.rules_silence import family_of, silences
from shared.alert_rules import Rule
from shared.events import (
    Event,
    FundingRate,
    HedgeStatus,
    LargeTrade,
    Liquidation,
    PositionChange,
    Spike,
    SpotPrice,
)

# $1 from, $2 to (µs)
QUERIES: dict[type[Event], str] = {
    FundingRate: "SELECT exchange, symbol, raw_symbol, rate, interval_hours, annualized, next_funding_ts, "
                 "ts, recv_ts FROM funding_rates WHERE ts >= $1 AND ts < $2",
    SpotPrice: "SELECT exchange, symbol, raw_symbol, price, source, ts, recv_ts FROM spot_prices "
               "WHERE ts >= $1 AND ts < $2",
    Liquidation: "SELECT exchange, symbol, raw_symbol, side, price, size, usd_value, raw_size, ts, recv_ts "
                 "FROM liquidations WHERE ts >= $1 AND ts < $2",
    LargeTrade: "SELECT exchange, symbol, trade_id, price, size, side, usd_value, threshold, ts, recv_ts "
                "FROM large_trades WHERE ts >= $1 AND ts < $2",
    Spike: "SELECT exchange, symbol, metric, interval, value, mean, stdev, z, threshold, ts, recv_ts "
           "FROM spikes WHERE ts >= $1 AND ts < $2",
    PositionChange: "SELECT address AS account, exchange, symbol, old_size, new_size, entry_price AS price, "
                    "change, position_value, unrealized_pnl, leverage, liquidation_price, liquidated, ts, "
                    "recv_ts FROM position_changes WHERE ts >= $1 AND ts < $2",
    HedgeStatus: "SELECT pool, asset, required, hedge, drift, drift_pct, drift_usd, ts, ts AS recv_ts "
                 "FROM hedge_snapshots WHERE ts >= $1 AND ts < $2",
}
REPLAYED: dict[str, type[Event]] = {
    "funding": FundingRate, "funding_spread": FundingRate, "price": SpotPrice, "liquidation": Liquidation,
    "large_trade": LargeTrade, "spike": Spike, "trader": PositionChange, "hedge_drift": HedgeStatus,
}
NOT_REPLAYABLE: dict[str, str] = {
    "stream_lag": "stream lag is measured by the stream monitor and never stored",
}
# The silences of one family's stored rows: per venue (and symbol when $4), each receive time with the
# one before it, kept where the gap is over $3 µs, and the newest per venue. $1 from, $2 to (ts, µs),
# $3 silence (µs), $4 per symbol, $5 exchange ('' any), $6 symbol ('' any)
SILENCES_SQL = """
SELECT exchange, watched, before, recv_ts FROM (
  SELECT exchange, watched, recv_ts,
         lag(recv_ts) OVER (PARTITION BY exchange, watched ORDER BY recv_ts) AS before,
         lead(recv_ts) OVER (PARTITION BY exchange, watched ORDER BY recv_ts) IS NULL AS newest
  FROM (SELECT exchange, CASE WHEN $4 THEN symbol ELSE '' END AS watched, recv_ts FROM {table}
        WHERE ts >= $1 AND ts < $2 AND ($5 = '' OR exchange = $5) AND ($6 = '' OR symbol = $6)) AS rows
) AS timed WHERE (before IS NOT NULL AND recv_ts - before > $3) OR newest
ORDER BY recv_ts
"""
SILENCE_QUERIES = {family: SILENCES_SQL.format(table=table) for family, table in (
    ("trades", "trades"), ("funding", "funding_rates"), ("prices", "spot_prices"),
    ("liquidations", "liquidations"))}


@dataclass(frozen=True)
class WouldFire:
    ts: int  # the event's time, µs
    fire: Fire


def cooled(rule: Rule, candidates: Iterable[WouldFire]) -> list[WouldFire]:
    """The candidates (in time order) the rule's cooldown lets through."""
    fired: list[WouldFire] = []
    for would in candidates:
        if fired and would.ts < fired[-1].ts + rule.cooldown_s * 1_000_000:
            continue
        fired.append(would)
    return fired


def replay(rule: Rule, events: Iterable[Event]) -> list[WouldFire]:
    """Each time `rule` would have fired on `events` (taken in time order), its cooldown applied."""
    memory: Memory = {}
    candidates = []
    for event in sorted(events, key=lambda e: e.ts):
        fire = evaluate(rule, event, memory)
        if fire is not None:
            candidates.append(WouldFire(event.ts, fire))
    return cooled(rule, candidates)


async def stored_events(conn: asyncpg.Connection | asyncpg.Pool, kind: str, start: int,
                        end: int) -> Sequence[Event]:
    """The stored events a rule kind reads in [start, end); none for kinds without stored events."""
    event_type = REPLAYED.get(kind)
    if event_type is None:
        return []
    rows = await conn.fetch(QUERIES[event_type], start, end)
    return [event_type(**dict(row)) for row in rows]


async def replay_silences(conn: asyncpg.Connection | asyncpg.Pool, rule: Rule, start: int,
                          end: int) -> list[WouldFire]:
    """When a feed_silent rule would have fired on the stored rows of [start, end): the timer fires
    `silent_s` after the last row of a venue, within the window or up to its end."""
    limit_us = int(Decimal(rule.params["silent_s"]) * 1_000_000)
    rows = await conn.fetch(SILENCE_QUERIES[family_of(rule)], start, end, limit_us,
                            bool(rule.params.get("symbol")), rule.params.get("exchange", ""),
                            rule.params.get("symbol", ""))
    candidates = []
    for row in rows:
        field = f"{rule.id}|{row['exchange']}|{row['watched']}"
        if row["before"] is not None and row["recv_ts"] - row["before"] > limit_us:
            candidates += [WouldFire(row["before"] + limit_us, s.fire)
                           for s in silences([rule], {field: row["before"]}, row["recv_ts"])]
        candidates += [WouldFire(row["recv_ts"] + limit_us, s.fire)
                       for s in silences([rule], {field: row["recv_ts"]}, end)]
    return cooled(rule, sorted(candidates, key=lambda w: w.ts))


async def would_fire(conn: asyncpg.Connection | asyncpg.Pool, rule: Rule, start: int,
                     end: int) -> tuple[list[WouldFire], int | None]:
    """(when the rule would have fired in [start, end), how many events were replayed: None when
    the silences were read from the rows' times)."""
    if rule.kind == SILENT:
        return await replay_silences(conn, rule, start, end), None
    events = await stored_events(conn, rule.kind, start, end)
    return replay(rule, events), len(events)
