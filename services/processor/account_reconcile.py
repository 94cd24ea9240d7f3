"""Reconciliation: the stored state of an account against the venue's REST snapshot (AccountSnapshot).

`diff` is pure: stored rows and a snapshot in, the differences and the corrections out. A stored
row newer than the snapshot is never a difference (the stream told us something after the venue
answered). `reconcile` reads the stored rows, applies the corrections at the snapshot's time and
records each difference in account_differences, inside the batch's transaction.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg
import msgspec

from services.processor.account_tables import (
    INSERT_DIFFERENCES,
    OPEN_STATUSES,
    STORED_BALANCES,
    STORED_FILLS,
    STORED_ORDERS,
    STORED_POSITIONS,
    balance_of,
    columns,
    order_of,
    position_of,
    store_balances,
    store_fills,
    store_orders,
    store_positions,
)
from shared.events import AccountFill, AccountOrder, AccountSnapshot, Balance, Position

ZERO = Decimal(0)


@dataclass(frozen=True)
class Difference:
    """One thing the stored state had wrong: kind missed_fill, order, balance or position; item the
    fill id, order id, asset or symbol; what we held and what the venue said ('' for nothing)."""

    kind: str
    item: str
    stored: str
    venue: str


@dataclass(frozen=True)
class StoredAccount:
    """The rows a snapshot is compared with: the open orders and those the snapshot lists, the fills
    of the snapshot's fill ids and of the open orders (fill id -> (order id, size)), the latest
    balances and positions."""

    orders: Mapping[str, AccountOrder] = field(default_factory=dict)
    fills: Mapping[str, tuple[str, Decimal]] = field(default_factory=dict)
    balances: Mapping[str, Balance] = field(default_factory=dict)
    positions: Mapping[str, Position] = field(default_factory=dict)


@dataclass
class Reconciliation:
    """The differences found and the rows that correct them (all at the snapshot's time)."""

    differences: list[Difference] = field(default_factory=list)
    orders: list[AccountOrder] = field(default_factory=list)
    fills: list[AccountFill] = field(default_factory=list)
    balances: list[Balance] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)


def order_text(o: AccountOrder) -> str:
    return f"{o.status} {o.filled}/{o.size} @ {'market' if o.price is None else o.price}"


def fill_text(f: AccountFill) -> str:
    return f"{f.side} {f.size} {f.symbol} @ {f.price}"


def balance_text(b: Balance) -> str:
    return f"{b.total} (available {b.available})"


def position_text(p: Position) -> str:
    return f"{p.size} @ {p.entry_price}"


def missed_fills(snapshot: AccountSnapshot, stored: StoredAccount, out: Reconciliation) -> None:
    """The venue's fills we never stored: inserted as they are."""
    seen: set[str] = set()
    for fill in snapshot.fills:
        if fill.fill_id in stored.fills or fill.fill_id in seen:
            continue
        seen.add(fill.fill_id)
        out.fills.append(fill)
        out.differences.append(Difference("missed_fill", fill.fill_id, "", fill_text(fill)))


def listed_orders(snapshot: AccountSnapshot, stored: StoredAccount, out: Reconciliation) -> None:
    """The venue's open orders: one we never stored, or stored otherwise (status, fill, size, price),
    takes the venue's word."""
    for order in snapshot.open_orders:
        held = stored.orders.get(order.order_id)
        if held is not None and held.ts > snapshot.ts:
            continue
        if held is not None and (held.status, held.filled, held.size, held.price) == (
                order.status, order.filled, order.size, order.price):
            continue
        out.orders.append(msgspec.structs.replace(order, ts=snapshot.ts, recv_ts=snapshot.recv_ts))
        out.differences.append(Difference("order", order.order_id, "" if held is None else order_text(held),
                                          order_text(order)))


def absent_orders(snapshot: AccountSnapshot, stored: StoredAccount, out: Reconciliation) -> None:
    """Stored open orders the venue no longer lists ended while we did not hear: filled when the
    fills we know of (stored, and missed ones just found) reach the size, else canceled."""
    listed = {o.order_id for o in snapshot.open_orders}
    known: dict[str, Decimal] = defaultdict(Decimal)
    for order_id, size in stored.fills.values():
        known[order_id] += size
    for fill in out.fills:
        known[fill.order_id] += fill.size
    for order in stored.orders.values():
        if order.order_id in listed or order.status not in OPEN_STATUSES or order.ts > snapshot.ts:
            continue
        filled = max(order.filled, known[order.order_id])
        if filled >= order.size:
            ended = msgspec.structs.replace(order, status="filled", filled=order.size, ts=snapshot.ts,
                                            recv_ts=snapshot.recv_ts)
        else:
            ended = msgspec.structs.replace(order, status="canceled", filled=filled, ts=snapshot.ts,
                                            recv_ts=snapshot.recv_ts)
        out.orders.append(ended)
        out.differences.append(Difference("order", order.order_id, order_text(order), order_text(ended)))


def balances(snapshot: AccountSnapshot, stored: StoredAccount, out: Reconciliation) -> None:
    """Balances are whole: a stored asset the venue leaves out holds nothing."""
    venue = {b.asset: b for b in snapshot.balances}
    for asset in sorted(set(venue) | set(stored.balances)):
        held, said = stored.balances.get(asset), venue.get(asset)
        if held is not None and held.ts > snapshot.ts:
            continue
        if said is None:
            said = Balance(account=snapshot.account, exchange=snapshot.exchange, asset=asset, total=ZERO,
                           available=ZERO, ts=snapshot.ts, recv_ts=snapshot.recv_ts)
            if held is None or (held.total, held.available) == (ZERO, ZERO):
                continue
        elif held is not None and (held.total, held.available) == (said.total, said.available):
            continue
        out.balances.append(msgspec.structs.replace(said, ts=snapshot.ts, recv_ts=snapshot.recv_ts))
        out.differences.append(Difference("balance", asset, "" if held is None else balance_text(held),
                                          balance_text(said)))


def positions(snapshot: AccountSnapshot, stored: StoredAccount, out: Reconciliation) -> None:
    """Positions are whole: a stored position the venue leaves out is closed (size 0). Sizes are
    compared; marks and PnL move every second and are not differences."""
    venue = {p.symbol: p for p in snapshot.positions if p.size != 0}
    for symbol in sorted(set(venue) | set(stored.positions)):
        held, said = stored.positions.get(symbol), venue.get(symbol)
        if held is not None and held.ts > snapshot.ts:
            continue
        if said is None:
            said = Position(account=snapshot.account, exchange=snapshot.exchange, symbol=symbol, size=ZERO,
                            entry_price=None, ts=snapshot.ts, recv_ts=snapshot.recv_ts)
        elif held is not None and held.size == said.size:
            continue
        out.positions.append(msgspec.structs.replace(said, ts=snapshot.ts, recv_ts=snapshot.recv_ts))
        out.differences.append(Difference("position", symbol, "" if held is None else position_text(held),
                                          "" if said.size == 0 else position_text(said)))


def diff(snapshot: AccountSnapshot, stored: StoredAccount) -> Reconciliation:
    """What the stored state has wrong against the venue's snapshot, and the rows that correct it."""
    out = Reconciliation()
    missed_fills(snapshot, stored, out)  # first: the absent orders count the missed fills
    listed_orders(snapshot, stored, out)
    absent_orders(snapshot, stored, out)
    balances(snapshot, stored, out)
    positions(snapshot, stored, out)
    return out


async def load_stored(conn: asyncpg.Connection, snapshot: AccountSnapshot) -> StoredAccount:
    """The rows `diff` compares the snapshot with."""
    key = (snapshot.exchange, snapshot.account)
    orders = [order_of(r) for r in await conn.fetch(STORED_ORDERS, *key,
                                                    [o.order_id for o in snapshot.open_orders])]
    open_ids = [o.order_id for o in orders if o.status in OPEN_STATUSES]
    fills = await conn.fetch(STORED_FILLS, *key, [f.fill_id for f in snapshot.fills], open_ids)
    return StoredAccount(
        orders={o.order_id: o for o in orders},
        fills={r["fill_id"]: (r["order_id"], r["size"]) for r in fills},
        balances={b.asset: b for b in map(balance_of, await conn.fetch(STORED_BALANCES, *key))},
        positions={p.symbol: p for p in map(position_of, await conn.fetch(STORED_POSITIONS, *key))},
    )


TAKE_BASELINE = "UPDATE accounts SET baseline_ts = $2 WHERE id = $1 AND baseline_ts IS NULL RETURNING true"


@dataclass
class Applied:
    """A reconciliation as stored: its differences, and the fills and order updates it made new."""

    snapshot: AccountSnapshot
    differences: list[Difference]
    fills: list[AccountFill]
    orders: list[AccountOrder]


async def reconcile(conn: asyncpg.Connection, snapshot: AccountSnapshot) -> Applied:
    """Compare, correct and record, in the caller's transaction (the account's row locked). The
    account's first snapshot is its baseline: stored, but no difference, no alert (its fills are
    the account's history, not messages we lost)."""
    found = diff(snapshot, await load_stored(conn, snapshot))
    fills = await store_fills(conn, found.fills)
    orders = await store_orders(conn, found.orders, corrected=True)
    await store_balances(conn, found.balances)
    await store_positions(conn, found.positions)
    if await conn.fetchval(TAKE_BASELINE, snapshot.account, snapshot.ts):
        return Applied(snapshot, [], [], [])
    if found.differences:
        rows = [(snapshot.exchange, snapshot.account, snapshot.ts, d.kind, d.item, d.stored, d.venue)
                for d in found.differences]
        await conn.execute(INSERT_DIFFERENCES, *columns(rows))
    return Applied(snapshot, found.differences, fills, orders)
