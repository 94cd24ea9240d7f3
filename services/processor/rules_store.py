"""Alert rules and their history in PostgreSQL (alert_rules, alert_history: migration 094), used by
the processor's rules group, the general CLI and the API."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import asyncpg

from services.processor.rules import SEVERITIES, Rule, validate
from shared.events import Alert, Severity, now_us

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
    params = row["params"]
    decoded = json.loads(params) if isinstance(params, str) else params
    return Rule(id=row["id"], kind=row["kind"], params={str(k): str(v) for k, v in decoded.items()},
                cooldown_s=row["cooldown_s"], severity=cast(Severity, row["severity"]), chat=row["chat"],
                enabled=row["enabled"])


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
