"""Alert rules users write (docs/rules.md), evaluated event by event. Pure: no I/O.

A rule (shared/alert_rules.py) is a kind and its parameters (strings, numbers as exact decimal
strings). Each kind reads one or a few event types; `evaluate` says whether an event makes a rule
fire, and why, in words. Price crossings need the price seen before: the caller keeps that Memory
(per rule, venue and symbol).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.alert_rules import Rule
from shared.constants import family_of, plain_name
from shared.events import (
    Event,
    FundingRate,
    HedgeStatus,
    LargeTrade,
    Liquidation,
    MarkPrice,
    PositionChange,
    Spike,
    SpotPrice,
    StreamLag,
    Trade,
)

# (rule id, exchange, symbol) -> the time and price last seen: mark prices and trades come on different
# streams, so an event older than the one seen last is stale and moves nothing
Memory = dict[tuple[int, str, str], tuple[int, Decimal]]


@dataclass(frozen=True)
class Fire:
    """Why a rule fired: a title and a line of detail for the alert."""

    title: str
    text: str


@dataclass(frozen=True)
class Kind:
    events: tuple[type[Event], ...]
    check: Callable[[Rule, Any, Memory], Fire | None]


def level(rule: Rule, name: str, default: str = "0") -> Decimal:
    return Decimal(rule.params.get(name) or default)


def where(rule: Rule, event: Any) -> bool:
    """The rule's venue and symbol (either may be left out: any)."""
    exchange, symbol = rule.params.get("exchange", ""), rule.params.get("symbol", "")
    return (not exchange or event.exchange == exchange) and (not symbol or event.symbol == symbol)


def beyond(value: Decimal, op: str, limit: Decimal) -> bool:
    return value > limit if op == "above" else value < limit


def check_funding(rule: Rule, event: FundingRate, memory: Memory) -> Fire | None:
    which = rule.params.get("field", "annualized")
    value = event.annualized if which == "annualized" else event.rate
    op, limit = rule.params["op"], level(rule, "level")
    if not where(rule, event) or not beyond(value, op, limit):
        return None
    return Fire(f"Funding {which} {op} {limit}: {event.exchange} {event.symbol} {value}",
                f"rate {event.rate} per {event.interval_hours} h, annualized {event.annualized}")


def check_spread(rule: Rule, event: FundingRate, memory: Memory) -> Fire | None:
    """The highest annualized funding of a symbol, less the lowest, across the venues seen within
    `max_age_s` (event time) of this one, above `level`."""
    if not where(rule, event):
        return None
    memory[(rule.id, event.exchange, event.symbol)] = (event.ts, event.annualized)
    oldest = event.ts - int(level(rule, "max_age_s", "3600") * 1_000_000)
    venues = {key[1]: value for key, (ts, value) in memory.items()
              if key[0] == rule.id and key[2] == event.symbol and ts >= oldest}
    if len(venues) < 2:
        return None
    high = max(venues, key=lambda venue: venues[venue])
    low = min(venues, key=lambda venue: venues[venue])
    spread, limit = venues[high] - venues[low], level(rule, "level")
    if spread <= limit:
        return None
    return Fire(f"Funding spread {event.symbol} {spread} over {limit}: {high} {venues[high]} vs {low} "
                f"{venues[low]}", f"annualized, {len(venues)} venues")


def price_of(event: MarkPrice | Trade | SpotPrice) -> Decimal:
    return event.mark_price if isinstance(event, MarkPrice) else event.price


def check_price(rule: Rule, event: MarkPrice | Trade | SpotPrice, memory: Memory) -> Fire | None:
    if not where(rule, event):
        return None
    price, op, limit = price_of(event), rule.params["op"], level(rule, "level")
    if op == "crossing":
        seen = (rule.id, event.exchange, event.symbol)
        last = memory.get(seen)
        if last is not None and event.ts < last[0]:
            return None
        memory[seen] = (event.ts, price)
        before = None if last is None else last[1]
        if before is None or not (before < limit <= price or before > limit >= price):
            return None
        direction = "up" if price > before else "down"
        return Fire(f"{event.symbol} crossed {limit} {direction} on {event.exchange}: {price}",
                    f"from {before} to {price}")
    if not beyond(price, op, limit):
        return None
    return Fire(f"{event.symbol} {op} {limit} on {event.exchange}: {price}",
                f"{type(event).__name__} {price}")


def check_usd(rule: Rule, event: Liquidation | LargeTrade, memory: Memory) -> Fire | None:
    limit = level(rule, "min_usd")
    if not where(rule, event) or event.usd_value < limit:
        return None
    what = "liquidation" if isinstance(event, Liquidation) else "trade"
    return Fire(f"{what.capitalize()} over ${limit} {event.exchange} {event.symbol}: ${event.usd_value}",
                f"{event.side} {event.size} @ {event.price}")


def check_spike(rule: Rule, event: Spike, memory: Memory) -> Fire | None:
    metric, limit = rule.params.get("metric", ""), level(rule, "min_z")
    if not where(rule, event) or (metric and event.metric != metric) or abs(event.z) < limit:
        return None
    return Fire(f"{event.metric.upper()} spike z {event.z} {event.exchange} {event.symbol} "
                f"({event.interval})",
                f"value {event.value}, mean {event.mean}, stdev {event.stdev}")


def check_trader(rule: Rule, event: PositionChange, memory: Memory) -> Fire | None:
    address = rule.params.get("address", "").lower()
    kinds = [k for k in rule.params.get("kinds", "").split(",") if k]
    value = abs(event.position_value or Decimal(0))
    if ((address and event.account.lower() != address) or (kinds and event.change not in kinds)
            or value < level(rule, "min_usd") or not where(rule, event)):
        return None
    return Fire(f"Trader {event.account[:6]}…{event.account[-4:]} {event.change} {event.symbol}: ${value}",
                f"{event.account} size {event.old_size} -> {event.new_size}")


def check_hedge(rule: Rule, event: HedgeStatus, memory: Memory) -> Fire | None:
    """|drift| over `pct` % of the required short, exactly (|drift| x 100 > pct x required, not the
    rounded drift_pct); any short held where none is required. `direction` over or under: only that way."""
    pool, asset, direction = (rule.params.get(name, "") for name in ("pool", "asset", "direction"))
    if (pool and event.pool != pool) or (asset and event.asset != asset) or event.drift == 0:
        return None
    over = event.drift > 0
    if direction and (direction == "over") != over:
        return None
    limit = level(rule, "pct")
    if event.required != 0 and abs(event.drift) * 100 <= limit * abs(event.required):
        return None
    usd = "" if event.drift_usd is None else f" (${event.drift_usd})"
    pct = "no short required" if event.drift_pct is None else f"{event.drift_pct}%"
    return Fire(f"Hedge {event.pool} {event.asset} {'over' if over else 'under'}-hedged past {limit}%: {pct}",
                f"required short {event.required}, held {event.hedge}; drift {event.drift}{usd}")


def check_lag(rule: Rule, event: StreamLag, memory: Memory) -> Fire | None:
    """A group's backlog over `share` of its stream's cap (lag > share x cap, exactly). `stream` names
    a stream (th:trades:0) or a family (trades: all its partitions)."""
    stream, group = rule.params.get("stream", ""), rule.params.get("group", "")
    names = (event.stream, plain_name(event.stream), family_of(event.stream))
    if (stream and stream not in names) or (group and event.group != group):
        return None
    limit = level(rule, "share")
    if Decimal(event.lag) <= limit * event.cap:
        return None
    return Fire(f"{names[1]} group {event.group} lags {event.lag} entries, over {limit} of its cap",
                f"cap {event.cap}: producers shed at the configured share; add consumers or raise the cap")


KINDS: dict[str, Kind] = {
    "funding": Kind((FundingRate,), check_funding),
    "funding_spread": Kind((FundingRate,), check_spread),
    "price": Kind((MarkPrice, Trade, SpotPrice), check_price),
    "liquidation": Kind((Liquidation,), check_usd),
    "large_trade": Kind((LargeTrade,), check_usd),
    "spike": Kind((Spike,), check_spike),
    "trader": Kind((PositionChange,), check_trader),
    "hedge_drift": Kind((HedgeStatus,), check_hedge),
    "stream_lag": Kind((StreamLag,), check_lag),
}


def evaluate(rule: Rule, event: Event, memory: Memory) -> Fire | None:
    """Whether `event` makes `rule` fire (cooldowns are the caller's); None when not."""
    spec = KINDS.get(rule.kind)
    if spec is None or not rule.enabled or not isinstance(event, spec.events):
        return None
    return spec.check(rule, event, memory)


def identity(event: Event) -> str:
    """A short identity of the event, for the alert key: venue and symbol (or pool and asset, stream
    and group) and time."""
    if isinstance(event, HedgeStatus):
        return f"{event.pool}:{event.asset}:{event.ts}"
    if isinstance(event, StreamLag):
        return f"{event.stream}:{event.group}:{event.ts}"
    venue = getattr(event, "exchange", "")
    symbol = getattr(event, "symbol", "")
    return f"{venue}:{symbol}:{event.ts}"
