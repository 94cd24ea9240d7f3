"""Operator commands: `backup now|list|restore-check`, `retention now`, `accounts ...`
(services/general/accounts_cli.py) and `portfolio sync [--account ID]`.

Output is for people (stdout); exit status 0 when all went well, 1 when it did not.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import aiohttp
import asyncpg

from services.general.accounts_cli import add_parser as add_accounts_parser
from services.general.accounts_cli import run_accounts
from services.general.backups import Backup, BackupError, list_backups, restore_check
from services.general.main import run_backup_job
from services.general.portfolio import run_sync
from services.general.retention import apply_retention
from services.general.rules_cli import add_parser as add_rules_parser
from services.general.rules_cli import run_rules_cli
from services.general.s3 import S3Error
from shared.config import Settings
from shared.db import DB_ERRORS, create_pool
from shared.redis_connect import redis_client
from shared.vault import MasterKeyError, VaultError, master_key


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m services.general",
                                   description="Without a command: run the general service.")
    commands = root.add_subparsers(dest="command")
    backup = commands.add_parser("backup", help="PostgreSQL backups of the configured schema")
    backup.add_argument("action", choices=["now", "list", "restore-check"])
    backup.add_argument("--file", help="restore-check this dump (a name in backup_dir) instead of the newest")
    backup.add_argument("--check", action="store_true", help="with `now`: restore-check the new dump too")
    retention = commands.add_parser("retention", help="drop expired trade partitions, downsample candles")
    retention.add_argument("action", choices=["now"])
    add_accounts_parser(commands)
    portfolio = commands.add_parser("portfolio", help="sync holdings, average entry and PnL now")
    portfolio.add_argument("action", choices=["sync"])
    portfolio.add_argument("--account", help="only this account (its id)")
    add_rules_parser(commands)
    return root


async def run_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.command == "accounts":
            return await run_accounts(args, settings)
        if args.command == "rules":
            return await run_rules_cli(args, settings)
        if args.command == "portfolio":
            return await portfolio_sync(settings, args.account)
        if args.command == "retention":
            return await retention_now(settings)
        if args.action == "list":
            return backup_list(settings)
        if args.action == "now":
            async with aiohttp.ClientSession() as session:
                _, detail = await run_backup_job(settings, session, check=args.check)
            print(f"backup ok: {detail}")
            return 0
        return await backup_check(settings, args.file)
    except (BackupError, S3Error, OSError, VaultError, MasterKeyError, *DB_ERRORS) as exc:
        what = f"{args.command} {getattr(args, 'action', '')}"
        print(f"{what} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def backup_list(settings: Settings) -> int:
    backups = list_backups(Path(settings.backup.dir), settings.db_schema)
    if not backups:
        print(f"no backups of schema {settings.db_schema} in {settings.backup.dir}")
    for backup in backups:
        counts = backup.counts()
        rows = f"{sum(counts.values())} rows in {len(counts)} tables" if counts is not None else "no manifest"
        print(f"{backup.path.name}  {backup.taken:%Y-%m-%d %H:%M:%S}Z  {backup.size / 1e6:10.1f} MB  {rows}")
    return 0


async def backup_check(settings: Settings, name: str | None) -> int:
    backups = list_backups(Path(settings.backup.dir), settings.db_schema)
    chosen: list[Backup] = [b for b in backups if b.path.name == name] if name else backups[-1:]
    if not chosen:
        print(f"no backup {name or ''} of schema {settings.db_schema} in {settings.backup.dir}",
              file=sys.stderr)
        return 1
    result = await restore_check(settings, chosen[0])
    print(f"restore check of {chosen[0].path.name}")
    for table in sorted(result.expected.keys() | result.restored.keys()):
        expected, restored = result.expected.get(table), result.restored.get(table)
        mark = "ok      " if expected == restored else "MISMATCH"
        print(f"  {mark} {table}: {expected} in dump, {restored} restored")
    print("restore check ok" if result.ok else "restore check FAILED")
    return 0 if result.ok else 1


async def retention_now(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.database_url)
    try:
        report = await apply_retention(conn, settings, progress=lambda line: print(line, flush=True))
    finally:
        await conn.close()
    print(f"retention done: {len(report.dropped_partitions)} partitions dropped, "
          f"{report.candles_deleted} 1m candles deleted, {report.hours_rolled_up} hourly rolled up"
          + (f", skipped {', '.join(report.skipped)}" if report.skipped else ""))
    return 0


async def portfolio_sync(settings: Settings, account: str | None) -> int:
    """One sync of every account (or one), each outcome printed; 1 when any failed or none matched."""
    master = master_key(settings.accounts)
    pool = await create_pool(settings)
    redis = redis_client(settings)
    try:
        outcomes = await run_sync(settings, redis, pool, master, account)
    finally:
        await redis.aclose()
        await pool.close()
    if not outcomes:
        print(f"no account {account}" if account else "no accounts stored", file=sys.stderr)
        return 1
    for o in outcomes:
        detail = f"{o.items} items, {o.value_usd} USD" if o.ok else o.error
        print(f"{o.account} ({o.exchange}): {'ok' if o.ok else 'FAILED'} {detail}")
    return 0 if all(o.ok for o in outcomes) else 1
