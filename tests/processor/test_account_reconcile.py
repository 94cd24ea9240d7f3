"""Reconciliation's pure diff: stored rows against the venue's snapshot, the differences it finds and
the corrections it makes; and the pure alerts of the accounts group."""
from __future__ import annotations

from decimal import Decimal

from services.processor.account_alerts import fill_alert, order_alert, reconcile_alert
from services.processor.account_reconcile import Difference, StoredAccount, diff
from shared.accounts import AccountAlerts
from shared.events import AccountFill, AccountOrder, AccountSnapshot, Balance, Closing, OrderStatus, Position

D = Decimal
ACC, EX = "main", "binance"
T0 = 1_790_000_000_000_000
S = T0 + 60_000_000  # the snapshot's time
BTC = "BTC-USDT-PERP"


def order(order_id: str, status: OrderStatus = "new", filled: str = "0", size: str = "1", ts: int = T0,
          closing: Closing = "") -> AccountOrder:
    return AccountOrder(account=ACC, exchange=EX, symbol=BTC, order_id=order_id, side="buy", price=D(100),
                        size=D(size), filled=D(filled), status=status, order_type="limit", closing=closing,
                        ts=ts, recv_ts=ts + 5)


def fill(fill_id: str, order_id: str, size: str = "1", ts: int = T0, price: str = "100",
         closing: Closing = "") -> AccountFill:
    return AccountFill(account=ACC, exchange=EX, symbol=BTC, order_id=order_id, fill_id=fill_id, side="buy",
                       price=D(price), size=D(size), fee=D("0.01"), fee_asset="USDT", closing=closing,
                       ts=ts, recv_ts=ts + 5)


def balance(asset: str, total: str, available: str | None = None, ts: int = T0) -> Balance:
    return Balance(account=ACC, exchange=EX, asset=asset, total=D(total), available=D(available or total),
                   ts=ts, recv_ts=ts)


def position(symbol: str, size: str, ts: int = T0) -> Position:
    return Position(account=ACC, exchange=EX, symbol=symbol, size=D(size), entry_price=D(100), ts=ts,
                    recv_ts=ts)


def snapshot(orders: tuple[AccountOrder, ...] = (), fills: tuple[AccountFill, ...] = (),
             balances: tuple[Balance, ...] = (), positions: tuple[Position, ...] = ()) -> AccountSnapshot:
    return AccountSnapshot(account=ACC, exchange=EX, reason="scheduled", open_orders=list(orders),
                           balances=list(balances), positions=list(positions), fills=list(fills),
                           fills_since=T0 - 1, ts=S, recv_ts=S + 7)


def stored(orders: tuple[AccountOrder, ...] = (), fills: tuple[AccountFill, ...] = (),
           balances: tuple[Balance, ...] = (), positions: tuple[Position, ...] = ()) -> StoredAccount:
    return StoredAccount(orders={o.order_id: o for o in orders},
                         fills={f.fill_id: (f.order_id, f.size) for f in fills},
                         balances={b.asset: b for b in balances}, positions={p.symbol: p for p in positions})


def test_the_same_state_is_no_difference() -> None:
    state = dict(orders=(order("1"),), fills=(fill("f0", "0"),), balances=(balance("USDT", "100"),),
                 positions=(position(BTC, "1"),))
    found = diff(snapshot(**state), stored(**state))  # type: ignore[arg-type]
    assert found.differences == []
    assert (found.orders, found.fills, found.balances, found.positions) == ([], [], [], [])


def test_a_missed_fill_is_inserted_and_a_difference() -> None:
    missed = fill("f2", "9", ts=T0 + 1)
    found = diff(snapshot(fills=(fill("f1", "9"), missed)), stored(fills=(fill("f1", "9"),)))
    assert found.fills == [missed]
    assert found.differences == [Difference("missed_fill", "f2", "", f"buy 1 {BTC} @ 100")]


def test_a_drifted_balance_is_corrected_at_the_snapshots_time() -> None:
    found = diff(snapshot(balances=(balance("USDT", "90", "80", ts=T0 + 3),)),
                 stored(balances=(balance("USDT", "100"),)))
    assert [(b.asset, b.total, b.available, b.ts) for b in found.balances] == [("USDT", D(90), D(80), S)]
    assert found.differences == [Difference("balance", "USDT", "100 (available 100)", "90 (available 80)")]


def test_a_stored_balance_the_venue_leaves_out_holds_nothing() -> None:
    found = diff(snapshot(), stored(balances=(balance("BNB", "2"), balance("ETH", "0"))))
    assert [(b.asset, b.total, b.available) for b in found.balances] == [("BNB", D(0), D(0))]
    assert [d.item for d in found.differences] == ["BNB"]


def test_a_position_gone_is_closed_and_a_new_or_resized_one_taken() -> None:
    found = diff(snapshot(positions=(position("ETH-USDT-PERP", "2"), position("SOL-USDT-PERP", "-3"))),
                 stored(positions=(position(BTC, "1"), position("SOL-USDT-PERP", "-1"))))
    assert [(p.symbol, p.size, p.ts) for p in found.positions] == [
        (BTC, D(0), S), ("ETH-USDT-PERP", D(2), S), ("SOL-USDT-PERP", D(-3), S)]
    assert found.differences == [Difference("position", BTC, "1 @ 100", ""),
                                 Difference("position", "ETH-USDT-PERP", "", "2 @ 100"),
                                 Difference("position", "SOL-USDT-PERP", "-1 @ 100", "-3 @ 100")]


def test_an_absent_open_order_is_filled_when_stored_and_missed_fills_reach_its_size() -> None:
    held = order("7", "partially_filled", filled="0.4")
    found = diff(snapshot(fills=(fill("b", "7", "0.6"),)),
                 stored(orders=(held,), fills=(fill("a", "7", "0.4"),)))
    assert [(o.order_id, o.status, o.filled, o.ts) for o in found.orders] == [("7", "filled", D(1), S)]
    assert [d.kind for d in found.differences] == ["missed_fill", "order"]
    assert found.differences[1] == Difference("order", "7", "partially_filled 0.4/1 @ 100",
                                              "filled 1/1 @ 100")


def test_an_absent_open_order_short_of_its_size_is_canceled_with_what_it_filled() -> None:
    found = diff(snapshot(), stored(orders=(order("7", "partially_filled", filled="0.25"),),
                                    fills=(fill("a", "7", "0.25"),)))
    assert [(o.order_id, o.status, o.filled) for o in found.orders] == [("7", "canceled", D("0.25"))]
    assert [d.kind for d in found.differences] == ["order"]


def test_open_orders_unknown_or_stored_otherwise_take_the_venues_word() -> None:
    venue = (order("1", "partially_filled", filled="0.5", ts=T0 + 2), order("2", ts=T0 + 3), order("3"))
    found = diff(snapshot(orders=venue), stored(orders=(order("1"), order("3"))))
    assert [(o.order_id, o.status, o.filled, o.ts) for o in found.orders] == [
        ("1", "partially_filled", D("0.5"), S), ("2", "new", D(0), S)]
    assert [(d.item, d.stored) for d in found.differences] == [("1", "new 0/1 @ 100"), ("2", "")]


def test_a_stored_row_newer_than_the_snapshot_is_no_difference() -> None:
    later = S + 1
    found = diff(snapshot(orders=(order("1"),), balances=(balance("USDT", "100"),)),
                 stored(orders=(order("1", "filled", filled="1", ts=later), order("2", ts=later)),
                        balances=(balance("USDT", "50", ts=later),),
                        positions=(position(BTC, "1", ts=later),)))
    assert found.differences == []
    assert (found.orders, found.balances, found.positions) == ([], [], [])


def test_a_new_fill_is_an_alert_over_the_minimum_only() -> None:
    big, small = fill("f1", "1", size="2", price="30000"), fill("f2", "1", size="0.001")
    alert = fill_alert(big, AccountAlerts(fill_min_usd=1000))
    assert alert is not None
    assert (alert.source, alert.severity, alert.key) == ("accounts", "info", f"account:{EX}:{ACC}:fill:f1")
    assert "notional $60000" in alert.text
    assert fill_alert(small, AccountAlerts(fill_min_usd=1000)) is None
    assert fill_alert(big, AccountAlerts(fills=False)) is None


def test_a_liquidation_fill_or_order_is_one_critical_alert_per_order() -> None:
    by_fill = fill_alert(fill("f1", "9", closing="liquidation"), AccountAlerts(fills=False))
    by_order = order_alert(order("9", "filled", filled="1", closing="liquidation"), AccountAlerts())
    assert by_fill is not None and by_order is not None
    assert by_fill.key == by_order.key == f"account:{EX}:{ACC}:liquidation:9"
    assert by_fill.title == by_order.title and by_fill.severity == "critical"
    assert order_alert(order("9", closing="adl"), AccountAlerts(liquidations=False)) is None
    assert order_alert(order("8", "filled", filled="1"), AccountAlerts()) is None


def test_a_reconciliation_with_differences_is_one_alert_when_wanted() -> None:
    alert = reconcile_alert(snapshot(), ["balance USDT: 100 -> 90"], AccountAlerts())
    assert alert is not None and alert.key == f"account:{EX}:{ACC}:reconcile:{S}"
    assert reconcile_alert(snapshot(), [], AccountAlerts()) is None
    assert reconcile_alert(snapshot(), ["x"], AccountAlerts(reconcile=False)) is None
