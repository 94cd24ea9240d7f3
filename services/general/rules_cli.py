"""`rules add|list|remove|test`: the alert rules users write (docs/rules.md).

  rules add funding op=above level=0.5 [exchange=binance] [--cooldown 600] [--severity warning] [--chat ID]
  rules list
  rules remove ID
  rules test ID [--hours 1]   the stored events of the last hours replayed through the rule
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from services.processor.rules_replay import NOT_REPLAYABLE, would_fire
from shared.alert_rules import PARAMS, SEVERITIES, add_rule, list_rules, remove_rule, rule_json
from shared.config import Settings
from shared.db import create_pool
from shared.events import now_us


def add_parser(commands: Any) -> None:
    rules = commands.add_parser("rules", help="alert rules: add, list, remove, test")
    actions = rules.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="a new rule: KIND name=value ...")
    add.add_argument("kind", choices=list(PARAMS))
    add.add_argument("params", nargs="*", help="name=value, e.g. op=above level=0.5 exchange=binance")
    add.add_argument("--cooldown", type=int, default=300, help="seconds before the rule fires again")
    add.add_argument("--severity", choices=SEVERITIES, default="warning")
    add.add_argument("--chat", default="", help="a Telegram chat id (default: the severity's chats)")
    actions.add_parser("list", help="every rule")
    remove = actions.add_parser("remove", help="remove a rule")
    remove.add_argument("id", type=int)
    test = actions.add_parser("test", help="when the rule would have fired on the stored events")
    test.add_argument("id", type=int)
    test.add_argument("--hours", type=float, default=1.0)


def parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"not name=value: {pair!r}")
        params[name] = value
    return params


def when(ts_us: int) -> str:
    return datetime.fromtimestamp(ts_us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def run_rules_cli(args: argparse.Namespace, settings: Settings) -> int:
    pool = await create_pool(settings)
    try:
        if args.action == "add":
            try:
                rule = await add_rule(pool, args.kind, parse_params(args.params), args.cooldown,
                                      args.severity, args.chat)
            except ValueError as exc:
                print(f"rules add: {exc}", file=sys.stderr)
                return 1
            print(f"rule {rule.id} added: {json.dumps(rule_json(rule))}")
            return 0
        if args.action == "list":
            for rule in await list_rules(pool):
                print(json.dumps(rule_json(rule)))
            return 0
        if args.action == "remove":
            if await remove_rule(pool, args.id):
                print(f"rule {args.id} removed")
                return 0
            print(f"no rule {args.id}", file=sys.stderr)
            return 1
        return await rules_test(pool, args.id, args.hours)
    finally:
        await pool.close()


async def rules_test(pool: Any, rule_id: int, hours: float) -> int:
    rule = next((r for r in await list_rules(pool) if r.id == rule_id), None)
    if rule is None:
        print(f"no rule {rule_id}", file=sys.stderr)
        return 1
    if rule.kind in NOT_REPLAYABLE:
        print(f"rule {rule_id} ({rule.kind}) cannot be replayed: {NOT_REPLAYABLE[rule.kind]}",
              file=sys.stderr)
        return 1
    end = now_us()
    fired, replayed = await would_fire(pool, rule, end - int(hours * 3600e6), end)
    for would in fired:
        print(f"{when(would.ts)}  would have fired: {would.fire.title}")
    what = "the stored rows' receive times" if replayed is None else f"{replayed} events"
    print(f"rule {rule_id}: {len(fired)} times in the last {hours:g} h ({what} replayed)")
    return 0
