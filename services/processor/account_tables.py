"""The accounts group's SQL (tables in shared/migrations/080_accounts.sql) and the thin functions that
run it inside the batch's one transaction (a position's liquidation price, realized PnL and funding
paid: migration 091_lighter.sql). Every write is idempotent: an order's latest row moves
only forward (ts, then filled, then status), history and fills are inserted ON CONFLICT DO NOTHING,
and the balances' and positions' latest rows never go back in time."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from services.processor.store import checked
from shared import metrics
from shared.accounts import AccountAlerts
from shared.events import AccountFill, AccountOrder, Balance, Position

log = logging.getLogger(__name__)
OPEN_STATUSES = ("new", "partially_filled")
STATUS_RANK = {"new": 0, "partially_filled": 1}  # any other status ends the order: rank 2


class UnknownAccount(ValueError):
    """An event of an account id not in `accounts`: refused, so the entry ends in the DLQ."""


def order_rank(order: AccountOrder) -> tuple[int, Decimal, int]:
    """Which of two updates of an order is newer: its time, then how much is filled, then how far
    its status went (a cancel at the same time and fill as the NEW it ends is the newer)."""
    return order.ts, order.filled, STATUS_RANK.get(order.status, 2)


# $1 ids. Locked in id order: two batches holding one account (a reclaimed entry beside a new one)
# take turns, so a reconciliation never reads state another transaction is changing.
LOCK_ACCOUNTS = """
SELECT id, exchange, alerts::text AS alerts FROM accounts WHERE id = ANY($1::text[])
ORDER BY id FOR NO KEY UPDATE
"""

ORDER_COLUMNS = """exchange, account, order_id, client_id, symbol, side, order_type, price, avg_price, size,
    filled, status, closing, ts, recv_ts"""
ORDER_UPSERT = f"""
INSERT INTO account_orders AS o ({ORDER_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::numeric[], $9::numeric[], $10::numeric[], $11::numeric[], $12::text[], $13::text[],
                     $14::bigint[], $15::bigint[])
ON CONFLICT (exchange, account, order_id) DO UPDATE SET
    client_id = COALESCE(NULLIF(EXCLUDED.client_id, ''), o.client_id), symbol = EXCLUDED.symbol,
    side = EXCLUDED.side, order_type = EXCLUDED.order_type, price = EXCLUDED.price,
    avg_price = COALESCE(EXCLUDED.avg_price, o.avg_price), size = EXCLUDED.size, filled = EXCLUDED.filled,
    status = EXCLUDED.status, closing = COALESCE(NULLIF(EXCLUDED.closing, ''), o.closing),
    ts = EXCLUDED.ts, recv_ts = EXCLUDED.recv_ts
"""
# A stream update replaces the latest row only when it is newer (order_rank, in SQL).
UPSERT_NEWER_ORDERS = ORDER_UPSERT + """
WHERE (o.ts, o.filled, CASE o.status WHEN 'new' THEN 0 WHEN 'partially_filled' THEN 1 ELSE 2 END)
    < (EXCLUDED.ts, EXCLUDED.filled,
       CASE EXCLUDED.status WHEN 'new' THEN 0 WHEN 'partially_filled' THEN 1 ELSE 2 END)
"""
# A reconciliation's correction (at the snapshot's time) replaces a row no newer than the snapshot.
UPSERT_CORRECTED_ORDERS = ORDER_UPSERT + "WHERE o.ts <= EXCLUDED.ts"
ORDER_HISTORY = """
INSERT INTO account_order_history (exchange, account, order_id, status, filled, ts, recv_ts)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::bigint[],
                     $7::bigint[])
ON CONFLICT DO NOTHING
RETURNING exchange, account, order_id, status, filled, ts
"""
INSERT_FILLS = """
INSERT INTO account_fills (exchange, account, fill_id, order_id, symbol, side, price, size, fee, fee_asset,
                           realized_pnl, closing, ts, recv_ts)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[],
                     $8::numeric[], $9::numeric[], $10::text[], $11::numeric[], $12::text[], $13::bigint[],
                     $14::bigint[])
ON CONFLICT DO NOTHING
RETURNING exchange, account, fill_id
"""
BALANCE_HISTORY = """
INSERT INTO account_balance_history (exchange, account, asset, total, available, ts)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::bigint[])
ON CONFLICT DO NOTHING
"""
LATEST_BALANCES = """
INSERT INTO account_balances AS b (exchange, account, asset, total, available, ts)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::bigint[])
ON CONFLICT (exchange, account, asset) DO UPDATE SET
    total = EXCLUDED.total, available = EXCLUDED.available, ts = EXCLUDED.ts
WHERE b.ts <= EXCLUDED.ts
"""
POSITION_HISTORY = """
INSERT INTO account_position_history (exchange, account, symbol, size, entry_price, mark_price,
                                      unrealized_pnl, leverage, ts, liquidation_price, realized_pnl,
                                      funding_paid)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::numeric[],
                     $7::numeric[], $8::numeric[], $9::bigint[], $10::numeric[], $11::numeric[],
                     $12::numeric[])
ON CONFLICT DO NOTHING
"""
# Not behind a newer history row: a position closed (size 0, its latest row deleted) stays closed
# when an older update of it arrives late.
LATEST_POSITIONS = """
INSERT INTO account_positions AS p (exchange, account, symbol, size, entry_price, mark_price, unrealized_pnl,
                                    leverage, ts, liquidation_price, realized_pnl, funding_paid)
SELECT u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::numeric[],
                       $7::numeric[], $8::numeric[], $9::bigint[], $10::numeric[], $11::numeric[],
                       $12::numeric[])
    AS u(exchange, account, symbol, size, entry_price, mark_price, unrealized_pnl, leverage, ts,
         liquidation_price, realized_pnl, funding_paid)
WHERE NOT EXISTS (SELECT 1 FROM account_position_history h WHERE h.exchange = u.exchange
                  AND h.account = u.account AND h.symbol = u.symbol AND h.ts > u.ts)
ON CONFLICT (exchange, account, symbol) DO UPDATE SET
    size = EXCLUDED.size, entry_price = EXCLUDED.entry_price, mark_price = EXCLUDED.mark_price,
    unrealized_pnl = EXCLUDED.unrealized_pnl, leverage = EXCLUDED.leverage, ts = EXCLUDED.ts,
    liquidation_price = EXCLUDED.liquidation_price, realized_pnl = EXCLUDED.realized_pnl,
    funding_paid = EXCLUDED.funding_paid
WHERE p.ts <= EXCLUDED.ts
"""
CLOSED_POSITIONS = """
DELETE FROM account_positions p
USING unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(exchange, account, symbol, ts)
WHERE p.exchange = u.exchange AND p.account = u.account AND p.symbol = u.symbol AND p.ts <= u.ts
"""
INSERT_DIFFERENCES = """
INSERT INTO account_differences (exchange, account, ts, kind, item, stored, venue)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
ON CONFLICT DO NOTHING
"""
# What a reconciliation compares: $1 exchange, $2 account, $3 the snapshot's open order ids.
STORED_ORDERS = """
SELECT * FROM account_orders WHERE exchange = $1 AND account = $2
  AND (status IN ('new', 'partially_filled') OR order_id = ANY($3::text[]))
"""
# $3 the snapshot's fill ids, $4 the stored open orders' ids.
STORED_FILLS = """
SELECT fill_id, order_id, size FROM account_fills WHERE exchange = $1 AND account = $2
  AND (fill_id = ANY($3::text[]) OR order_id = ANY($4::text[]))
"""
STORED_BALANCES = "SELECT * FROM account_balances WHERE exchange = $1 AND account = $2"
STORED_POSITIONS = "SELECT * FROM account_positions WHERE exchange = $1 AND account = $2"
NEWEST_FILLS = """
SELECT exchange, account, max(ts) AS ts FROM account_fills WHERE account = ANY($1::text[])
GROUP BY exchange, account
"""


def columns(rows: Sequence[tuple[object, ...]]) -> list[list[object]]:
    """Rows as one list per column: the arrays `unnest` takes."""
    return [list(column) for column in zip(*rows, strict=True)]


def order_row(o: AccountOrder) -> tuple[object, ...]:
    return (o.exchange, o.account, o.order_id, o.client_id, o.symbol, o.side, o.order_type,
            checked(o.price, "price"), checked(o.avg_price, "avg_price"), checked(o.size, "size"),
            checked(o.filled, "filled"), o.status, o.closing, o.ts, o.recv_ts)


def fill_row(f: AccountFill) -> tuple[object, ...]:
    return (f.exchange, f.account, f.fill_id, f.order_id, f.symbol, f.side, checked(f.price, "price"),
            checked(f.size, "size"), checked(f.fee, "fee"), f.fee_asset,
            checked(f.realized_pnl, "realized_pnl"), f.closing, f.ts, f.recv_ts)


def balance_row(b: Balance) -> tuple[object, ...]:
    return (b.exchange, b.account, b.asset, checked(b.total, "total"), checked(b.available, "available"),
            b.ts)


def position_row(p: Position) -> tuple[object, ...]:
    return (p.exchange, p.account, p.symbol, checked(p.size, "size"), checked(p.entry_price, "entry_price"),
            checked(p.mark_price, "mark_price"), checked(p.unrealized_pnl, "unrealized_pnl"),
            checked(p.leverage, "leverage"), p.ts, checked(p.liquidation_price, "liquidation_price"),
            checked(p.realized_pnl, "realized_pnl"), checked(p.funding_paid, "funding_paid"))


async def store_orders(conn: asyncpg.Connection, orders: Sequence[AccountOrder],
                       corrected: bool = False) -> list[AccountOrder]:
    """Every update into the history, the newest of each order into its latest row (a correction:
    over any row no newer than it). Returns the updates not stored before."""
    if not orders:
        return []
    newest: dict[tuple[str, str, str], AccountOrder] = {}
    for order in orders:
        key = (order.exchange, order.account, order.order_id)
        held = newest.get(key)
        if held is None or order_rank(order) > order_rank(held):
            newest[key] = order
    history = [(o.exchange, o.account, o.order_id, o.status, o.filled, o.ts, o.recv_ts) for o in orders]
    inserted = await conn.fetch(ORDER_HISTORY, *columns(history))
    await conn.execute(UPSERT_CORRECTED_ORDERS if corrected else UPSERT_NEWER_ORDERS,
                       *columns([order_row(o) for o in newest.values()]))
    fresh = {(r["exchange"], r["account"], r["order_id"], r["status"], r["filled"], r["ts"]): r
             for r in inserted}
    metrics.EVENTS_STORED.labels("account_order_history").inc(len(fresh))
    new: list[AccountOrder] = []
    for order in orders:  # the first of equal updates: the one whose history row was inserted
        if fresh.pop((order.exchange, order.account, order.order_id, order.status, order.filled, order.ts),
                     None) is not None:
            new.append(order)
    return new


async def store_fills(conn: asyncpg.Connection, fills: Sequence[AccountFill]) -> list[AccountFill]:
    """The fills not stored yet are inserted and returned (a fill stored twice is no news)."""
    if not fills:
        return []
    unique = {(f.exchange, f.account, f.fill_id): f for f in fills}
    inserted = await conn.fetch(INSERT_FILLS, *columns([fill_row(f) for f in unique.values()]))
    metrics.EVENTS_STORED.labels("account_fills").inc(len(inserted))
    return [unique[(r["exchange"], r["account"], r["fill_id"])] for r in inserted]


def newest_of(events: Iterable[Balance | Position], key: str) -> list[Balance | Position]:
    """The latest event of each (exchange, account, asset or symbol); the later one of equal times."""
    newest: dict[tuple[str, str, str], Balance | Position] = {}
    for event in events:
        item = (event.exchange, event.account, getattr(event, key))
        held = newest.get(item)
        if held is None or event.ts >= held.ts:
            newest[item] = event
    return list(newest.values())


async def store_balances(conn: asyncpg.Connection, balances: Sequence[Balance]) -> None:
    if not balances:
        return
    await conn.execute(BALANCE_HISTORY, *columns([balance_row(b) for b in balances]))
    latest = [b for b in newest_of(balances, "asset") if isinstance(b, Balance)]
    await conn.execute(LATEST_BALANCES, *columns([balance_row(b) for b in latest]))
    metrics.EVENTS_STORED.labels("account_balances").inc(len(balances))


async def store_positions(conn: asyncpg.Connection, positions: Sequence[Position]) -> None:
    """History first (the latest rows are checked against it), then each position's newest update:
    size 0 deletes its latest row, any other size replaces it."""
    if not positions:
        return
    await conn.execute(POSITION_HISTORY, *columns([position_row(p) for p in positions]))
    latest = [p for p in newest_of(positions, "symbol") if isinstance(p, Position)]
    open_ = [position_row(p) for p in latest if p.size != 0]
    closed = [(p.exchange, p.account, p.symbol, p.ts) for p in latest if p.size == 0]
    if open_:
        await conn.execute(LATEST_POSITIONS, *columns(open_))
    if closed:
        await conn.execute(CLOSED_POSITIONS, *columns(closed))
    metrics.EVENTS_STORED.labels("account_positions").inc(len(positions))


def order_of(row: Mapping[str, Any]) -> AccountOrder:
    return AccountOrder(
        account=row["account"], exchange=row["exchange"], symbol=row["symbol"], order_id=row["order_id"],
        side=row["side"], price=row["price"], size=row["size"], filled=row["filled"], status=row["status"],
        order_type=row["order_type"], client_id=row["client_id"], avg_price=row["avg_price"],
        closing=row["closing"], ts=row["ts"], recv_ts=row["recv_ts"])


def balance_of(row: Mapping[str, Any]) -> Balance:
    return Balance(account=row["account"], exchange=row["exchange"], asset=row["asset"], total=row["total"],
                   available=row["available"], ts=row["ts"], recv_ts=row["ts"])


def position_of(row: Mapping[str, Any]) -> Position:
    return Position(account=row["account"], exchange=row["exchange"], symbol=row["symbol"], size=row["size"],
                    entry_price=row["entry_price"], mark_price=row["mark_price"],
                    unrealized_pnl=row["unrealized_pnl"], leverage=row["leverage"],
                    liquidation_price=row["liquidation_price"], realized_pnl=row["realized_pnl"],
                    funding_paid=row["funding_paid"], ts=row["ts"], recv_ts=row["ts"])


def alerts_of(account: str, text: str) -> AccountAlerts:
    """accounts.alerts as settings; a field this version does not know is ignored, and settings that
    cannot be read are the defaults (logged): storing the account's events never waits on them."""
    try:
        value = msgspec.json.decode(text)
        known = {k: v for k, v in value.items() if k in AccountAlerts.__struct_fields__}
        return msgspec.convert(known, AccountAlerts)
    except (msgspec.DecodeError, msgspec.ValidationError, AttributeError) as exc:
        log.warning("account alert settings unreadable, defaults used",
                    extra={"account": account, "error": repr(exc)})
        return AccountAlerts()


async def lock_accounts(conn: asyncpg.Connection, ids: Iterable[str]) -> dict[str, AccountAlerts]:
    """Each account's alert settings, its row locked for the batch; an unknown id is refused."""
    wanted = sorted(set(ids))
    rows = await conn.fetch(LOCK_ACCOUNTS, wanted)
    found = {row["id"]: alerts_of(row["id"], row["alerts"]) for row in rows}
    missing = [account for account in wanted if account not in found]
    if missing:
        raise UnknownAccount(f"not in accounts: {', '.join(missing)}")
    return found


async def newest_fills(conn: asyncpg.Connection, accounts: Iterable[str]) -> dict[str, int]:
    """"<exchange>:<account>" -> the newest stored fill's time, for the receivers' cursors."""
    rows = await conn.fetch(NEWEST_FILLS, sorted(set(accounts)))
    return {f"{row['exchange']}:{row['account']}": row["ts"] for row in rows}
