"""Alert rules users write (docs/rules.md): the rule, its kinds' parameters, and the rules and their
history in PostgreSQL (alert_rules, alert_history: migration 094). Shared by the processor's rules
group (which evaluates them: services/processor/rules.py), the general CLI and the API."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from shared.events import Alert, Severity, now_us

SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
VENUE = ("exchange", "symbol")  # optional everywhere: left out, any venue or symbol
# the streams whose events keep a feed_silent rule quiet (services/processor/rules_silence.py)
SILENT_FAMILIES = ("trades", "funding", "prices", "liquidations")


@dataclass(frozen=True)
class Rule:
    id: int
    kind: str
    params: Mapping[str, str] = field(default_factory=dict)
    cooldown_s: int = 300
    severity: Severity = "warning"
    chat: str = ""  # "": the chats of its severity
    enabled: bool = True


@dataclass(frozen=True)
class Params:
    """What a kind's parameters may be: required names, optional ones, fixed choices, numbers."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = VENUE
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    decimals: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()  # numbers that must be over 0


PARAMS: dict[str, Params] = {
    "funding": Params(("op", "level"), (*VENUE, "field"),
                      {"op": ("above", "below"), "field": ("annualized", "rate")}, ("level",)),
    "funding_spread": Params(("level",), ("symbol", "max_age_s"), {}, ("level", "max_age_s")),
    "price": Params(("op", "level"), VENUE, {"op": ("above", "below", "crossing")}, ("level",)),
    "liquidation": Params(("min_usd",), VENUE, {}, ("min_usd",)),
    "large_trade": Params(("min_usd",), VENUE, {}, ("min_usd",)),
    "spike": Params(("min_z",), (*VENUE, "metric"), {"metric": ("oi", "volume")}, ("min_z",)),
    "trader": Params((), (*VENUE, "address", "kinds", "min_usd"),
                     {}, ("min_usd",)),
    "hedge_drift": Params(("pct",), ("pool", "asset", "direction"), {"direction": ("over", "under")},
                          ("pct",)),
    "feed_silent": Params(("silent_s",), (*VENUE, "family"), {"family": SILENT_FAMILIES}, ("silent_s",),
                          ("silent_s",)),
    "stream_lag": Params(("share",), ("stream", "group"), {}, ("share",), ("share",)),
}


def _check_number(kind: str, name: str, text: str) -> None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{kind}: {name} must be a number") from None
    if not number.is_finite():
        raise ValueError(f"{kind}: {name} must be a finite number")


def validate(kind: str, params: Mapping[str, Any]) -> dict[str, str]:
    """The parameters as stored (strings, empty ones left out), or ValueError saying what is wrong."""
    spec = PARAMS.get(kind)
    if spec is None:
        raise ValueError(f"kind must be one of {', '.join(PARAMS)}")
    clean = {str(name): str(value) for name, value in params.items() if str(value) != ""}
    if not all(name.isprintable() and value.isprintable() for name, value in clean.items()):
        raise ValueError(f"{kind}: parameters must be printable text")
    known = {*spec.required, *spec.optional}
    if set(clean) - known or any(name not in clean for name in spec.required):
        raise ValueError(f"{kind}: needs {', '.join(spec.required) or 'nothing'}, "
                         f"may have {', '.join(spec.optional)}")
    for name, allowed in spec.choices.items():
        if name in clean and clean[name] not in allowed:
            raise ValueError(f"{kind}: {name} must be one of {', '.join(allowed)}")
    for name in spec.decimals:
        if name in clean:
            _check_number(kind, name, clean[name])
    for name in spec.positive:
        if Decimal(clean[name]) <= 0:
            raise ValueError(f"{kind}: {name} must be over 0")
    return clean


RULES_QUERY = "SELECT id, kind, params, cooldown_s, severity, chat, enabled FROM alert_rules ORDER BY id"
INSERT_RULE = """
INSERT INTO alert_rules (kind, params, cooldown_s, severity, chat, enabled, created_at)
VALUES ($1, $2::jsonb, $3, $4, $5, true, $6) RETURNING id
"""
DELETE_RULE = "DELETE FROM alert_rules WHERE id = $1 RETURNING id"
INSERT_FIRE = """
INSERT INTO alert_history (rule_id, ts, fired_at, key, severity, chat, title, text)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
# $1 rule (NULL: all), $2 from (fired_at, NULL: any), $3 limit
HISTORY_QUERY = """
SELECT id, rule_id, ts, fired_at, key, severity, chat, title, text FROM alert_history
WHERE ($1::bigint IS NULL OR rule_id = $1) AND ($2::bigint IS NULL OR fired_at >= $2)
ORDER BY fired_at DESC, id DESC LIMIT $3
"""


def rule_of(row: Mapping[str, Any]) -> Rule:
    severity = row["severity"]
    params = row["params"]
    decoded = json.loads(params) if isinstance(params, str) else params
    return Rule(id=row["id"], kind=row["kind"], params={str(k): str(v) for k, v in decoded.items()},
                cooldown_s=row["cooldown_s"], severity=SEVERITIES[SEVERITIES.index(severity)],
                chat=row["chat"], enabled=row["enabled"])


def rule_json(rule: Rule) -> dict[str, Any]:
    return {"id": rule.id, "kind": rule.kind, "params": dict(rule.params), "cooldown_s": rule.cooldown_s,
            "severity": rule.severity, "chat": rule.chat, "enabled": rule.enabled}


async def list_rules(conn: asyncpg.Connection | asyncpg.Pool, enabled_only: bool = False) -> list[Rule]:
    rules = [rule_of(row) for row in await conn.fetch(RULES_QUERY)]
    return [r for r in rules if r.enabled] if enabled_only else rules


async def add_rule(conn: asyncpg.Connection | asyncpg.Pool, kind: str, params: Mapping[str, Any],
                   cooldown_s: int = 300, severity: str = "warning", chat: str = "") -> Rule:
    """A new enabled rule; ValueError when its kind, parameters, cooldown or severity are wrong."""
    clean = validate(kind, params)
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
    if cooldown_s < 0:
        raise ValueError("cooldown_s must be 0 or more")
    rule_id = await conn.fetchval(INSERT_RULE, kind, json.dumps(clean), cooldown_s, severity, chat, now_us())
    return Rule(int(rule_id), kind, clean, cooldown_s, SEVERITIES[SEVERITIES.index(severity)], chat)


async def remove_rule(conn: asyncpg.Connection | asyncpg.Pool, rule_id: int) -> bool:
    return await conn.fetchval(DELETE_RULE, rule_id) is not None


async def record_fire(conn: asyncpg.Connection | asyncpg.Pool, rule_id: int, alert: Alert) -> None:
    await conn.execute(INSERT_FIRE, rule_id, alert.ts, alert.recv_ts, alert.key, alert.severity, alert.chat,
                       alert.title, alert.text)


async def history(conn: asyncpg.Connection | asyncpg.Pool, rule_id: int | None = None,
                  since: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return [dict(row) for row in await conn.fetch(HISTORY_QUERY, rule_id, since, limit)]
