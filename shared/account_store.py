"""The accounts table (migration 080): the user's accounts and their sealed credentials.

Only this module reads or writes `accounts.sealed`; what it hands out is an Account (no secret)
or, to the one caller that opens a connection to the venue, the Credentials the vault opened.
"""
from __future__ import annotations

import time

import asyncpg
import msgspec

from shared.accounts import Account, AccountAlerts, Credentials
from shared.vault import seal, unseal

_alerts = msgspec.json.Decoder(AccountAlerts)

_INSERT = """
INSERT INTO accounts (id, exchange, scope, address, sealed, alerts, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $7)
"""
_SELECT = "SELECT id, exchange, scope, address, alerts::text AS alerts, sealed FROM accounts ORDER BY id"
_SELECT_SEALED_FOR_UPDATE = (
    "SELECT id, exchange, sealed FROM accounts WHERE sealed IS NOT NULL ORDER BY id FOR UPDATE")
_RESEAL = "UPDATE accounts SET sealed = $2, updated_at = $3 WHERE id = $1"
_SET_ALERTS = "UPDATE accounts SET alerts = $2::jsonb, updated_at = $3 WHERE id = $1"


class AccountExists(Exception):
    """An account of that id is already stored."""


def _now_us() -> int:
    return time.time_ns() // 1000


def _account(row: asyncpg.Record) -> Account:
    return Account(id=row["id"], exchange=row["exchange"], scope=row["scope"], address=row["address"] or "",
                   alerts=_alerts.decode(row["alerts"]))


async def add_account(conn: asyncpg.Connection, master: bytes, account: Account,
                      credentials: Credentials | None) -> None:
    """Store a new account, its credentials sealed for it (None: read by address alone)."""
    sealed = None if credentials is None else seal(master, account.id, account.exchange, credentials)
    try:
        await conn.execute(_INSERT, account.id, account.exchange, account.scope, account.address or None,
                           sealed, msgspec.json.encode(account.alerts).decode(), _now_us())
    except asyncpg.UniqueViolationError:
        raise AccountExists(f"account {account.id} already exists") from None


async def sealed_accounts(conn: asyncpg.Connection) -> list[tuple[Account, bytes | None]]:
    """Every account with its sealed credentials, unopened (for a caller that opens each on its own)."""
    return [(_account(row), row["sealed"]) for row in await conn.fetch(_SELECT)]


async def list_accounts(conn: asyncpg.Connection) -> list[Account]:
    """Every account, by id; no credentials."""
    return [account for account, _ in await sealed_accounts(conn)]


async def load_accounts(conn: asyncpg.Connection, master: bytes) -> list[tuple[Account, Credentials | None]]:
    """Every account with its opened credentials; VaultError (naming the account) if one does not open."""
    return [(account, None if sealed is None else unseal(master, account.id, account.exchange, sealed))
            for account, sealed in await sealed_accounts(conn)]


async def remove_account(conn: asyncpg.Connection, account_id: str) -> bool:
    """Delete the account and, by cascade, everything stored of it; False when there was none."""
    return str(await conn.execute("DELETE FROM accounts WHERE id = $1", account_id)) != "DELETE 0"


async def set_alerts(conn: asyncpg.Connection, account_id: str, alerts: AccountAlerts) -> bool:
    """Replace the account's alert settings; False when there is no such account."""
    status = await conn.execute(_SET_ALERTS, account_id, msgspec.json.encode(alerts).decode(), _now_us())
    return str(status) != "UPDATE 0"


async def rotate_master_key(conn: asyncpg.Connection, old: bytes, new: bytes) -> int:
    """Re-seal every account's credentials under `new`, in one transaction: if one row does not open
    with `old` (VaultError) or anything fails midway, every row stays under `old`. Returns the count."""
    now = _now_us()
    async with conn.transaction():
        rows = await conn.fetch(_SELECT_SEALED_FOR_UPDATE)
        for row in rows:
            credentials = unseal(old, row["id"], row["exchange"], row["sealed"])
            await conn.execute(_RESEAL, row["id"], seal(new, row["id"], row["exchange"], credentials), now)
    return len(rows)
