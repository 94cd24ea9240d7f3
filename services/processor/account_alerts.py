"""The user's own accounts as Alerts for th:alerts (the general service sends each key once per
severity and title). Pure: the account's settings (accounts.alerts) and the stored events in,
alerts out. Keys: account:<exchange>:<account>:fill:<fill id>, :liquidation:<order id>,
:reconcile:<snapshot ts>,
:liq-near:<symbol>."""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from shared.accounts import AccountAlerts
from shared.events import AccountFill, AccountOrder, AccountSnapshot, Alert, Position
from shared.usd import usd_value

SOURCE = "accounts"
DIFFERENCES_SHOWN = 20  # lines of one reconciliation alert; the rest are in account_differences
CLOSED_BY = {"liquidation": "liquidated", "adl": "auto-deleveraged"}


def key_of(exchange: str, account: str, *what: str) -> str:
    return ":".join(("account", exchange, account, *what))


def liquidation_alert(event: AccountOrder | AccountFill) -> Alert:
    """A position the venue closed (liquidation or ADL): one alert per closing order, whether its
    order update or one of its fills tells it first."""
    verb = CLOSED_BY.get(event.closing, event.closing)
    return Alert(
        source=SOURCE, severity="critical", key=key_of(event.exchange, event.account, "liquidation",
                                                       event.order_id),
        title=f"{event.account} ({event.exchange}): {event.symbol} position {verb}",
        text=f"order {event.order_id}, {event.side} {event.size} {event.symbol}",
        ts=event.ts, recv_ts=event.recv_ts)


def fill_alert(fill: AccountFill, alerts: AccountAlerts) -> Alert | None:
    """A new fill worth alerting: a closing one (liquidation, ADL) when liquidations are on, any
    other when fills are on and its notional reaches fill_min_usd (a fill without a USD value, a
    quote other than USD, passes only a zero minimum)."""
    if fill.closing and alerts.liquidations:
        return liquidation_alert(fill)
    if not alerts.fills:
        return None
    notional = usd_value(fill.symbol, fill.price, fill.size)
    minimum = alerts.fill_min_usd
    if (notional is None and minimum > 0) or (notional is not None and notional < minimum):
        return None
    details = [f"fee {fill.fee} {fill.fee_asset}"]
    if notional is not None:
        details.insert(0, f"notional ${notional}")
    if fill.realized_pnl is not None:
        details.append(f"realized PnL {fill.realized_pnl}")
    return Alert(
        source=SOURCE, severity="info", key=key_of(fill.exchange, fill.account, "fill", fill.fill_id),
        title=f"{fill.account} ({fill.exchange}): {fill.side} {fill.size} {fill.symbol} @ {fill.price}",
        text="\n".join(details), ts=fill.ts, recv_ts=fill.recv_ts)


def order_alert(order: AccountOrder, alerts: AccountAlerts) -> Alert | None:
    """A new update of a closing order (liquidation, ADL), when liquidations are on."""
    return liquidation_alert(order) if order.closing and alerts.liquidations else None


def reconcile_alert(snapshot: AccountSnapshot, lines: Sequence[str], alerts: AccountAlerts) -> Alert | None:
    """One alert per snapshot that found differences (`lines`, one per difference)."""
    if not lines or not alerts.reconcile:
        return None
    shown = list(lines[:DIFFERENCES_SHOWN])
    if len(lines) > DIFFERENCES_SHOWN:
        shown.append(f"... and {len(lines) - DIFFERENCES_SHOWN} more (account_differences)")
    return Alert(
        source=SOURCE, severity="warning",
        key=key_of(snapshot.exchange, snapshot.account, "reconcile", str(snapshot.ts)),
        title=f"{snapshot.account} ({snapshot.exchange}): {len(lines)} stored "
              f"{'difference' if len(lines) == 1 else 'differences'} corrected from the venue",
        text="\n".join(shown), ts=snapshot.ts, recv_ts=snapshot.recv_ts)


def liquidation_distance(position: Position) -> Decimal | None:
    """How far (percent of the price) the position's mark, or its entry when no mark, is from the
    liquidation price the venue gives; negative once past it. None when there is nothing to measure."""
    price = position.mark_price if position.mark_price is not None else position.entry_price
    liquidation = position.liquidation_price
    if not position.size or price is None or price <= 0 or liquidation is None or liquidation <= 0:
        return None
    gap = price - liquidation if position.size > 0 else liquidation - price
    return gap / price * 100


def liquidation_near_alert(position: Position, pct: Decimal, alerts: AccountAlerts) -> Alert | None:
    """A position within `pct` percent of its liquidation price, when liquidations are on. The title
    is the same while it stays near, so the general service sends it once per dedup window."""
    distance = liquidation_distance(position)
    if distance is None or distance > pct or not alerts.liquidations:
        return None
    price = position.mark_price if position.mark_price is not None else position.entry_price
    side = "long" if position.size > 0 else "short"
    return Alert(
        source=SOURCE, severity="critical",
        key=key_of(position.exchange, position.account, "liq-near", position.symbol),
        title=f"{position.account} ({position.exchange}): {position.symbol} {side} within {pct}% "
              f"of its liquidation price",
        text=f"{side} {abs(position.size)} {position.symbol}, price {price}, liquidation at "
             f"{position.liquidation_price} ({distance.quantize(Decimal('0.01'))}% away)",
        ts=position.ts, recv_ts=position.recv_ts)
