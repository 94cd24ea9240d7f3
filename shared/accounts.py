"""The user's exchange accounts as every service sees them: the record (never a secret) and the
credentials the receivers open from the vault (shared/vault.py) and hold only in memory."""
from __future__ import annotations

import re
from decimal import Decimal

import msgspec

ACCOUNT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}\Z")  # with match(): no trailing newline slips through
Scope = str  # "read" or "trade"


class AccountAlerts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which of an account's events become alerts (accounts.alerts, JSON); all on by default."""

    fills: bool = True
    fill_min_usd: Decimal = Decimal(0)  # a fill under this notional is not alerted
    liquidations: bool = True  # a liquidation or ADL of a position
    auth: bool = True  # the venue refused the credentials
    reconcile: bool = True  # a reconciliation found the stored state wrong


class Account(msgspec.Struct, frozen=True):
    """One account: its id (the user's name for it, the `account` of its events), venue, scope."""

    id: str
    exchange: str
    scope: Scope = "read"
    address: str = ""  # Hyperliquid: the address read (no key needed)
    alerts: AccountAlerts = AccountAlerts()


class Credentials(msgspec.Struct, frozen=True):
    """An exchange API key as the vault opens it. Its repr names no secret, so a log line or a
    traceback that shows one leaks nothing."""

    key: str
    secret: str
    passphrase: str = ""  # OKX

    def __repr__(self) -> str:
        return f"Credentials(key={mask(self.key)})"

    __str__ = __repr__


def mask(text: str) -> str:
    """What a person may be shown of a key: its first and last four characters."""
    return f"{text[:4]}…{text[-4:]}" if len(text) > 12 else "…"
