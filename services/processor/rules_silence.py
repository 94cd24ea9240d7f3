"""The feed_silent rule kind (docs/rules.md): a feed that stops sending sends no event to evaluate, so
the rules group keeps the last receive time of what each rule watches, from the events flowing
through it, and a timer inside the group compares it with the clock.

The times live in one Redis hash (`<prefix>:rules:last_seen`, field `<rule>|<exchange>|<symbol>`),
raised only forward by a script, so every consumer and processor of the group shares them and a
restart forgets nothing. A silence fires once: a marker keyed by its start time claims it.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import redis.asyncio as aioredis

from services.processor.rules import Fire, where
from shared.alert_rules import Rule
from shared.events import Event, FundingRate, Liquidation, MarkPrice, SpotPrice, Trade

KIND = "feed_silent"
# family (shared.alert_rules.SILENT_FAMILIES) -> the events of it that keep a feed alive
FAMILY_EVENTS: dict[str, tuple[type[Event], ...]] = {
    "trades": (Trade,), "funding": (FundingRate, MarkPrice), "prices": (SpotPrice,),
    "liquidations": (Liquidation,),
}
MARKER_TTL_S = 7 * 86_400  # a silence longer than this is alerted again
# KEYS[1] the hash; ARGV field, time, field, time...: each time kept only when newer than the stored one
RAISE_LUA = """
for i = 1, #ARGV, 2 do
  local old = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > old then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 0
"""


def last_seen_key(prefix: str) -> str:
    return f"{prefix}:rules:last_seen"


def marker_key(prefix: str, field: str, since: int) -> str:
    """Set when the silence of `field` that began at `since` fired (or is firing)."""
    return f"{prefix}:rules:silent:{field}:{since}"


def family_of(rule: Rule) -> str:
    return rule.params.get("family") or "trades"


def watched_events(rule: Rule) -> tuple[type[Event], ...]:
    return FAMILY_EVENTS[family_of(rule)]


def field_of(rule: Rule, event: Event) -> str | None:
    """What of `event` the rule watches: its venue, and its symbol when the rule names one (a venue
    is silent when none of its symbols sends); None when the rule does not watch it."""
    if not isinstance(event, watched_events(rule)) or not where(rule, event):
        return None
    symbol = getattr(event, "symbol", "") if rule.params.get("symbol") else ""
    return f"{rule.id}|{getattr(event, 'exchange', '')}|{symbol}"


def latest_seen(rules: Sequence[Rule], events: Iterable[Event]) -> dict[str, int]:
    """field -> the newest receive time among `events`, for each silent rule watching them."""
    latest: dict[str, int] = {}
    for event in events:
        for rule in rules:
            field = field_of(rule, event)
            if field is not None and event.recv_ts > latest.get(field, 0):
                latest[field] = event.recv_ts
    return latest


@dataclass(frozen=True)
class Silence:
    rule: Rule
    field: str
    since: int  # the last receive time, µs
    fire: Fire


def silences(rules: Sequence[Rule], seen: dict[str, int], now: int) -> list[Silence]:
    """The watched feeds silent longer than their rule allows at `now` (µs), exactly."""
    by_id = {rule.id: rule for rule in rules}
    found = []
    for field, since in sorted(seen.items()):
        rule = by_id.get(int(field.split("|", 1)[0]))
        if rule is None:
            continue
        limit = Decimal(rule.params["silent_s"])
        silent_us = now - since
        if Decimal(silent_us) <= limit * 1_000_000:
            continue
        _, exchange, symbol = field.split("|")
        what = " ".join(part for part in (exchange, symbol, family_of(rule)) if part)
        found.append(Silence(rule, field, since, Fire(
            f"{what} silent for {Decimal(silent_us) / 1_000_000:.0f} s (over {limit} s)",
            f"last event received {since} µs; the rules group watches it from its events")))
    return found


class SilenceWatch:
    """The last receive times in Redis, raised as events flow and read by the timer."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis, self.prefix = redis, prefix
        self._raise = redis.register_script(RAISE_LUA)

    async def note(self, rules: Sequence[Rule], events: Iterable[Event]) -> None:
        latest = latest_seen(rules, events)
        if latest:
            args = [item for field, ts in latest.items() for item in (field, str(ts))]
            await self._raise(keys=[last_seen_key(self.prefix)], args=args)

    async def due(self, rules: Sequence[Rule], now: int) -> list[Silence]:
        """The silences to fire now; forgets the fields of rules gone."""
        raw = await self.redis.hgetall(last_seen_key(self.prefix))
        seen = {_text(field): int(value) for field, value in raw.items()}
        ids = {str(rule.id) for rule in rules}
        gone = [field for field in seen if field.split("|", 1)[0] not in ids]
        if gone:
            await self.redis.hdel(last_seen_key(self.prefix), *gone)
        return silences(rules, seen, now)

    async def claim(self, silence: Silence) -> bool:
        """True for the first caller only: one alert per silence across the group."""
        return bool(await self.redis.set(marker_key(self.prefix, silence.field, silence.since), b"1",
                                         nx=True, ex=MARKER_TTL_S))

    async def release(self, silence: Silence) -> None:
        await self.redis.delete(marker_key(self.prefix, silence.field, silence.since))


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
