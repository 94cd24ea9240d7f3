"""`rules test`: the stored events of a window (funding rows, spot prices, liquidations, large trades)
replayed through one rule in time order, with its cooldown on the events' clock: when it would
have fired. Mark prices are not stored (services/processor/sinks.py), so a price rule replays on the
stored spot prices."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from services.processor.rules import Fire, Memory, evaluate
from shared.alert_rules import Rule
from shared.events import Event, FundingRate, LargeTrade, Liquidation, SpotPrice

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
}
REPLAYED: dict[str, type[Event]] = {
    "funding": FundingRate, "funding_spread": FundingRate, "price": SpotPrice, "liquidation": Liquidation,
    "large_trade": LargeTrade,
}


@dataclass(frozen=True)
class WouldFire:
    ts: int  # the event's time, µs
    fire: Fire


def replay(rule: Rule, events: Iterable[Event]) -> list[WouldFire]:
    """Each time `rule` would have fired on `events` (taken in time order), its cooldown applied."""
    memory: Memory = {}
    fired: list[WouldFire] = []
    quiet_until = None
    for event in sorted(events, key=lambda e: e.ts):
        fire = evaluate(rule, event, memory)
        if fire is None or (quiet_until is not None and event.ts < quiet_until):
            continue
        fired.append(WouldFire(event.ts, fire))
        quiet_until = event.ts + rule.cooldown_s * 1_000_000
    return fired


async def stored_events(conn: asyncpg.Connection | asyncpg.Pool, kind: str, start: int,
                        end: int) -> Sequence[Event]:
    """The stored events a rule kind reads in [start, end); none for kinds without stored events."""
    event_type = REPLAYED.get(kind)
    if event_type is None:
        return []
    rows = await conn.fetch(QUERIES[event_type], start, end)
    return [event_type(**dict(row)) for row in rows]
