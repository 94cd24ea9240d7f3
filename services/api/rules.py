"""REST on the alert rules users write (docs/rules.md): what fired (GET /api/v1/alerts) and the rules
themselves (GET, POST /api/v1/rules, DELETE /api/v1/rules/{id}). Reading needs any valid API key;
writing needs the scope rules:write."""
from __future__ import annotations

import json
import re
from typing import Annotated, Literal

import msgspec
from aiohttp import web

from services.api.answers import KINDS as COLUMN_KINDS
from services.api.answers import Schema, listing, row
from services.api.api_keys import MARKET, RULES_WRITE, require_scope
from services.api.data import fetch
from services.api.keys import POOL
from services.api.params import BIGINT, Window, capped, parse_query
from shared.alert_rules import add_rule, list_rules, remove_rule, rule_json
from shared.db import CONNECTION_ERRORS

# $1 rule (NULL: all), $2 from, $3 to (fired_at, µs), $4 limit
ALERTS_QUERY = """
SELECT id, rule_id, ts, fired_at, key, severity, chat, title, text FROM alert_history
WHERE ($1::bigint IS NULL OR rule_id = $1) AND ($2::bigint IS NULL OR fired_at >= $2)
  AND ($3::bigint IS NULL OR fired_at < $3)
ORDER BY fired_at DESC, id DESC LIMIT $4
"""


class AlertsQuery(Window, frozen=True, kw_only=True):
    """GET /api/v1/alerts?rule=&from=&to=&limit= (from/to: when the rule fired)"""

    rule: Annotated[int, msgspec.Meta(ge=1, le=BIGINT)] | None = None


INT32 = 2**31 - 1  # alert_rules.cooldown_s is an integer column
RULE_ID = re.compile(r"[0-9]{1,19}")
# A Telegram chat: a numeric id (groups are negative) or a public @name; "" for the severity's chats
CHAT = r"^(-?[0-9]{1,20}|@[A-Za-z0-9_]{4,64})?\Z"


class NewRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /api/v1/rules body: a kind and its parameters (docs/rules.md), numbers as decimal text or
    JSON numbers; the cooldown in seconds, the severity, and a Telegram chat ("": the severity's)."""

    kind: str
    params: dict[str, str | int | float] = {}
    cooldown_s: Annotated[int, msgspec.Meta(ge=0, le=INT32)] = 300
    severity: Literal["info", "warning", "critical"] = "warning"
    chat: Annotated[str, msgspec.Meta(pattern=CHAT)] = ""


# the answers of the rule routes, for the OpenAPI document (services/api/openapi.py)
RULE: Schema = row("id:int kind:str cooldown_s:int severity:str chat:str enabled:bool",
                   params={"type": "object", "additionalProperties": COLUMN_KINDS["str"]})
ANSWERS: dict[str, Schema] = {"rule": RULE, "rules": listing("rules", RULE), "removed": row("removed:int")}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/alerts", alerts)
    app.router.add_get("/api/v1/rules", rules)
    app.router.add_post("/api/v1/rules", create)
    app.router.add_delete("/api/v1/rules/{id}", delete)


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def unavailable() -> web.HTTPServiceUnavailable:
    return web.HTTPServiceUnavailable(text=json.dumps({"error": "database unavailable"}),
                                      content_type="application/json")


async def alerts(request: web.Request) -> web.Response:
    """GET /api/v1/alerts?rule=&from=&to=&limit=: what the alert rules fired, newest first."""
    await require_scope(request, MARKET)  # any valid key
    q = parse_query(request, AlertsQuery)
    rows = await fetch(request, ALERTS_QUERY, q.rule, q.start, q.end, capped(request, q.limit))
    return web.json_response({"alerts": rows, "count": len(rows)})


async def rules(request: web.Request) -> web.Response:
    """GET /api/v1/rules: every alert rule."""
    await require_scope(request, MARKET)
    try:
        found = [rule_json(rule) for rule in await list_rules(request.app[POOL])]
    except CONNECTION_ERRORS as exc:
        raise unavailable() from exc
    return web.json_response({"rules": found, "count": len(found)})


async def create(request: web.Request) -> web.Response:
    """POST /api/v1/rules: a new rule (JSON: kind, params, cooldown_s, severity, chat); 201 with it."""
    await require_scope(request, RULES_WRITE)
    try:
        new = msgspec.json.decode(await request.read(), type=NewRule)
    except msgspec.ValidationError as exc:
        raise bad_request(str(exc)) from None
    except msgspec.DecodeError:
        raise bad_request("the body must be a JSON object") from None
    try:
        rule = await add_rule(request.app[POOL], new.kind, new.params, new.cooldown_s, new.severity, new.chat)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    except CONNECTION_ERRORS as exc:
        raise unavailable() from exc
    return web.json_response(rule_json(rule), status=201)


async def delete(request: web.Request) -> web.Response:
    """DELETE /api/v1/rules/{id}: remove a rule (its history stays)."""
    await require_scope(request, RULES_WRITE)
    text = request.match_info["id"]
    if not RULE_ID.fullmatch(text) or int(text) > BIGINT:
        raise bad_request("id must be a rule id")
    try:
        removed = await remove_rule(request.app[POOL], int(text))
    except CONNECTION_ERRORS as exc:
        raise unavailable() from exc
    if not removed:
        raise web.HTTPNotFound(text=json.dumps({"error": "no such rule"}), content_type="application/json")
    return web.json_response({"removed": int(text)})
