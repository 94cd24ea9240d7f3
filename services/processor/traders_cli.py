"""traders watch add|remove|list [ADDRESS] [--min-usd N]: the watchlist of Hyperliquid traders.

A watched trader is tracked every cycle, and each of its position changes worth at least its
minimum (USD position value) becomes a Telegram alert. PostgreSQL's traders.watched is the
source of truth; every command leaves the tracker's Redis set equal to it.
"""
from __future__ import annotations

import argparse
import sys
from decimal import Decimal

from redis.exceptions import RedisError

from services.processor.trader_address import BadAddress, address_of
from services.processor.trader_watch import sync_watch_set, unwatch, watch, watched
from shared.config import Settings, load_settings
from shared.constants import traders_rotation_key, traders_watch_key
from shared.db import create_pool, migrate
from shared.decimals import usd_argument
from shared.service import redis_client, run_command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.processor traders")
    commands = parser.add_subparsers(dest="command", required=True)
    watch_cmd = commands.add_parser("watch", help="the watchlist: tracked every cycle, changes alerted")
    watch_cmd.add_argument("action", choices=["add", "remove", "list"])
    watch_cmd.add_argument("address", nargs="?", help="the trader, 0x followed by 40 hex digits")
    watch_cmd.add_argument("--min-usd", type=usd_argument, default=None,
                           help="add: alert only changes of at least this position value (USD); default 0, "
                                "or the trader's current minimum")
    return parser


async def run_watch(settings: Settings, action: str, address: str | None, min_usd: Decimal | None) -> int:
    """One watch command against the configured PostgreSQL and Redis; the exit status."""
    if action == "list" and address is not None:
        print("list takes no address", file=sys.stderr)
        return 2
    if action != "list" and address is None:
        print(f"{action} takes the trader's address", file=sys.stderr)
        return 2
    pool = await create_pool(settings)
    redis = redis_client(settings)
    prefix = settings.streams.prefix
    try:
        async with pool.acquire() as conn:
            await migrate(conn, settings.db_schema)  # the tables, even before the processor's first start
            if action == "add":
                assert address is not None
                threshold = await watch(conn, address, min_usd)
                await redis.zadd(traders_rotation_key(prefix), {address: 0}, nx=True)
                print(f"watching {address} (alerts from ${threshold})")
            elif action == "remove":
                assert address is not None
                was = await unwatch(conn, address)
                print(f"no longer watching {address}" if was else f"{address} was not watched")
            else:
                for row in await watched(conn):
                    print(f"{row['address']}  min_usd={row['watch_min_usd']}  "
                          f"last_tracked={row['last_tracked']}")
            await sync_watch_set(conn, redis, traders_watch_key(prefix))
    finally:
        await redis.aclose()
        await pool.close()
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        address = None if args.address is None else address_of(args.address)
    except BadAddress as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_command(lambda: run_watch(load_settings(), args.action, address, args.min_usd), (RedisError,))
