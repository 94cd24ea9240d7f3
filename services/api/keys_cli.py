"""keys create --scope S [--name N] | list | revoke ID: tradehub's own API keys (services/api/api_keys.py).

`create` prints the key once, alone on stdout (KEY=$(python -m services.api keys create ...)): only
its hash is stored, so it cannot be shown again. `list` shows ids, names, scopes and times, never a
hash. `revoke` takes the id (the 8 hex digits after "th_"), so the key itself never goes on a
command line.
"""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import asyncpg

from services.api.api_keys import KEY_ID, SCOPES, ApiKey, create_key, list_keys, revoke_key
from shared.config import Settings, load_settings
from shared.db import migrate
from shared.service import run_command


def key_id(text: str) -> str:
    if not KEY_ID.match(text):
        raise argparse.ArgumentTypeError("expected a key id: the 8 hex digits after th_")
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.api keys")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="a new key, printed once")
    create.add_argument("--scope", action="append", choices=SCOPES, required=True,
                        help="what the key opens (repeatable); market (public data) is implied")
    create.add_argument("--name", default="", help="what the key is for, shown by list")
    commands.add_parser("list", help="every key: id, name, scopes, created, revoked (never a hash)")
    revoke = commands.add_parser("revoke", help="refuse a key from now on (within seconds in every API)")
    revoke.add_argument("id", type=key_id, help="the key's id: the 8 hex digits after th_")
    return parser


def when(us: int | None) -> str:
    return "-" if us is None else datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="seconds")


def key_line(key: ApiKey) -> str:
    name = key.name or "-"
    return f"{key.id}  {name:<20}  {','.join(key.scopes):<20}  created {when(key.created_at)}  " \
           f"revoked {when(key.revoked_at)}"


async def run_keys(settings: Settings, args: argparse.Namespace) -> int:
    """One command against the configured PostgreSQL; the exit status."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await migrate(conn, settings.db_schema)  # the table, even before the API's first start
        if args.command == "create":
            key, text = await create_key(conn, args.scope, args.name)
            print(text)
            print(f"key {key.id} ({','.join(key.scopes)}): store it now, it is not shown again",
                  file=sys.stderr)
        elif args.command == "list":
            for key in await list_keys(conn):
                print(key_line(key))
        else:
            revoked = await revoke_key(conn, args.id)
            if revoked is None:
                print(f"no key {args.id}", file=sys.stderr)
                return 1
            print(f"revoked {args.id}" if revoked else f"{args.id} was already revoked")
    finally:
        await conn.close()
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return run_command(lambda: run_keys(load_settings(), args))
