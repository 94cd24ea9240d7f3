"""`accounts add|list|remove|rotate-master-key|new-master-key|alerts`: the user's exchange accounts
and the vault holding their API keys (docs/accounts.md).

Secrets come from a getpass prompt or `--stdin`, never from argv (which `ps` shows); nothing printed
holds more of a key than shared.accounts.mask() shows. A refused request is one line on stderr and
exit status 2; a database failure is left to the caller (exit status 1).
"""
from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import asyncpg
import msgspec

from services.processor.trader_address import ADDRESS_FORM, address_or_none
from shared.account_store import (
    AccountExists,
    add_account,
    list_accounts,
    remove_account,
    rotate_master_key,
    sealed_accounts,
    set_alerts,
)
from shared.accounts import ACCOUNT_ID, Account, AccountAlerts, Credentials, mask
from shared.config import Settings
from shared.db import migrate
from shared.decimals import usd_argument
from shared.vault import MasterKeyError, VaultError, master_key, new_master_key, parse_master_key, unseal

# The venues whose private side issue 13 builds: exchange -> needs an API key (False: read by
# address). A venue record that declares its side (Venue.account) has the last word.
PLANNED_SIDES = {"binance": True, "bybit": True, "okx": True, "deribit": True, "hyperliquid": False,
                 "lighter": False}
PASSPHRASE_EXCHANGES = frozenset({"okx"})  # OKX keys come with the passphrase chosen at creation
ID_FORM = "1 to 40 of a-z 0-9 _ -, starting with a letter or digit"
SWITCHES = ("fills", "liquidations", "auth", "reconcile")


class Refused(Exception):
    """The command cannot run as asked; the message is the one line the user sees (exit status 2)."""


def private_sides() -> dict[str, bool]:
    """Exchange -> needs an API key, for every venue with a private side."""
    from services.receivers.exchanges import REGISTRY

    declared = {venue.exchange: venue.account.needs_key for venue in REGISTRY if venue.account is not None}
    return PLANNED_SIDES | declared


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `accounts` command under the general service's commands (services/general/cli.py)."""
    accounts = commands.add_parser("accounts", help="your exchange accounts and the vault of their keys")
    actions = accounts.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="store an account; its key is asked for, or read with --stdin")
    add.add_argument("id", help=f"your name for it: {ID_FORM}")
    add.add_argument("--exchange", required=True, help=", ".join(sorted(PLANNED_SIDES)))
    add.add_argument("--scope", choices=["read", "trade"], default="read")
    add.add_argument("--address", help=f"hyperliquid: the account's address, {ADDRESS_FORM}; "
                                        "lighter: its account index or L1 address")
    add.add_argument("--stdin", action="store_true",
                     help="read the key, the secret (and OKX's passphrase) from stdin, one a line")
    actions.add_parser("list", help="the accounts, with their keys masked")
    remove = actions.add_parser("remove", help="delete an account and everything stored of it")
    remove.add_argument("id")
    rotate = actions.add_parser("rotate-master-key", help="re-seal every key under a new master key")
    rotate.add_argument("--new-key-file", required=True, type=Path,
                        help="the new key (from new-master-key); the current one is the configured key")
    actions.add_parser("new-master-key", help="print a fresh random master key")
    alerts = actions.add_parser("alerts", help="show or change which of an account's events alert")
    alerts.add_argument("id")
    for switch in SWITCHES:
        alerts.add_argument(f"--{switch}", choices=["on", "off"])
    alerts.add_argument("--fill-min-usd", type=usd_argument, help="a fill under this notional is not alerted")




def _account_id(text: str) -> str:
    if not ACCOUNT_ID.fullmatch(text):
        raise Refused(f"account id {text!r} is not valid: {ID_FORM}")
    return text


def address_for(exchange: str, text: str) -> tuple[str | None, str]:
    """The address an account read by address is stored with (None: not one), and the form asked:
    a Lighter account is an index or an L1 address, any other a Hyperliquid-style address."""
    if exchange == "lighter":
        from services.receivers.exchanges.lighter.account import ADDRESS_FORM as LIGHTER_FORM
        from services.receivers.exchanges.lighter.account import stored_address

        return stored_address(text), LIGHTER_FORM
    return address_or_none(text), ADDRESS_FORM


def account_to_add(args: argparse.Namespace) -> Account:
    """The account `add` was asked for, checked before anything is read or stored."""
    sides = private_sides()
    if args.exchange not in sides:
        raise Refused(f"unknown exchange {args.exchange!r}: accounts exist on {', '.join(sorted(sides))}")
    if not sides[args.exchange]:
        address, form = address_for(args.exchange, args.address or "")
        if address is None:
            raise Refused(f"{args.exchange} accounts are read by address: give --address, {form}")
        return Account(id=_account_id(args.id), exchange=args.exchange, scope=args.scope, address=address)
    if args.address is not None:
        raise Refused(f"{args.exchange} accounts take an API key, not --address")
    return Account(id=_account_id(args.id), exchange=args.exchange, scope=args.scope)


def read_credentials(exchange: str, from_stdin: bool, stdin: TextIO = sys.stdin,
                     prompt: Callable[[str], str] = getpass.getpass) -> Credentials:
    """The API key, secret (and passphrase) from stdin lines or a prompt that does not echo."""
    wanted = ["key", "secret", *(["passphrase"] if exchange in PASSPHRASE_EXCHANGES else [])]
    if from_stdin:
        given = [line.strip() for line in stdin.read().splitlines()[:len(wanted)]]
    else:
        given = [_ask(prompt, f"{exchange} API {name}: ") for name in wanted]
    given += [""] * (len(wanted) - len(given))
    missing = [name for name, value in zip(wanted, given, strict=True) if not value]
    if missing:
        where = f"--stdin: one a line, {', '.join(wanted)}" if from_stdin else "at the prompt"
        raise Refused(f"no API {' or '.join(missing)} given ({where})")
    return Credentials(*given)


def _ask(prompt: Callable[[str], str], text: str) -> str:
    try:
        return prompt(text).strip()
    except EOFError:  # stdin closed: nothing given
        return ""


async def _add(conn: asyncpg.Connection, args: argparse.Namespace, master: bytes) -> int:
    account = account_to_add(args)
    if any(known.id == account.id for known in await list_accounts(conn)):  # before asking for secrets
        raise AccountExists(f"account {account.id} already exists")
    credentials = read_credentials(account.exchange, args.stdin) if not account.address else None
    await add_account(conn, master, account, credentials)
    shown = f"key {mask(credentials.key)}" if credentials else f"address {account.address}"
    print(f"added account {account.id}: {account.exchange}, {account.scope}, {shown}")
    return 0


async def _list(conn: asyncpg.Connection, args: argparse.Namespace, master: bytes) -> int:
    rows = await sealed_accounts(conn)
    if not rows:
        print("no accounts")
    width = max((len(account.id) for account, _ in rows), default=0)
    status = 0
    for account, sealed in rows:
        if sealed is None:
            shown = f"address {account.address}"
        else:
            try:
                shown = f"key {mask(unseal(master, account.id, account.exchange, sealed).key)}"
            except VaultError:
                shown, status = "key does not open with this master key", 1
        print(f"{account.id:<{width}}  {account.exchange:<11}  {account.scope:<5}  {shown}")
    return status


async def _remove(conn: asyncpg.Connection, args: argparse.Namespace, master: bytes) -> int:
    if not await remove_account(conn, args.id):
        raise Refused(f"no account {args.id!r}")
    print(f"removed account {args.id} and everything stored of it")
    return 0


async def _rotate(conn: asyncpg.Connection, args: argparse.Namespace, master: bytes) -> int:
    try:
        new = parse_master_key(args.new_key_file.read_text(), str(args.new_key_file))
    except OSError as exc:
        raise Refused(f"cannot read {args.new_key_file}: {exc.strerror}") from None
    if new == master:
        raise Refused(f"{args.new_key_file} holds the current master key")
    count = await rotate_master_key(conn, master, new)
    print(f"re-sealed {count} accounts' keys; restart every service with "
          f"TRADEHUB_MASTER_KEY_FILE={args.new_key_file} (the old key no longer opens them)")
    return 0


async def _alerts(conn: asyncpg.Connection, args: argparse.Namespace, master: bytes) -> int:
    account = next((known for known in await list_accounts(conn) if known.id == args.id), None)
    if account is None:
        raise Refused(f"no account {args.id!r}")
    changes: dict[str, Any] = {name: getattr(args, name) == "on" for name in SWITCHES
                               if getattr(args, name) is not None}
    if args.fill_min_usd is not None:
        changes["fill_min_usd"] = args.fill_min_usd
    alerts: AccountAlerts = msgspec.structs.replace(account.alerts, **changes)
    if changes:
        await set_alerts(conn, account.id, alerts)
    print(f"{account.id} alerts: " + ", ".join(f"{name}={value}" for name, value in
                                               msgspec.structs.asdict(alerts).items()))
    return 0


Action = Callable[[asyncpg.Connection, argparse.Namespace, bytes], Awaitable[int]]
# action -> (what it does, whether it needs the master key)
ACTIONS: dict[str, tuple[Action, bool]] = {
    "add": (_add, True), "list": (_list, True), "remove": (_remove, False),
    "rotate-master-key": (_rotate, True), "alerts": (_alerts, False),
}


async def run_accounts(args: argparse.Namespace, settings: Settings) -> int:
    """One accounts command against the configured PostgreSQL (migrated first); the exit status."""
    if args.action == "new-master-key":
        print(new_master_key())
        return 0
    action, needs_key = ACTIONS[args.action]
    try:
        if args.action == "add":
            needs_key = account_to_add(args).address == ""  # refuse a bad request before anything else
        master = master_key(settings.accounts) if needs_key else b""
        conn = await asyncpg.connect(settings.database_url)
        try:
            await migrate(conn, settings.db_schema)  # the tables, even before any service started
            return await action(conn, args, master)
        finally:
            await conn.close()
    except (Refused, MasterKeyError, AccountExists) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except VaultError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
