"""The position diff on hand-built pairs of snapshots: each kind of change, a flip, a partial close,
a close by liquidation, coins appearing and disappearing between polls."""
from __future__ import annotations

from decimal import Decimal

from services.processor.position_diff import change_kind, diff_positions, open_positions
from shared.events import PositionChange, TraderPosition, TraderState

D = Decimal
ADDRESS = "0x" + "ab" * 20
T1, T2 = 1_700_000_000_000_000, 1_700_000_060_000_000


def pos(symbol: str, size: str, entry: str = "100", value: str | None = None, pnl: str = "0",
        leverage: str | None = "5", liq: str | None = "80") -> TraderPosition:
    worth = value if value is not None else str(abs(D(size)) * D(entry))
    return TraderPosition(symbol=symbol, size=D(size), entry_price=D(entry), position_value=D(worth),
                          unrealized_pnl=D(pnl), leverage=None if leverage is None else D(leverage),
                          liquidation_price=None if liq is None else D(liq))


def state(*positions: TraderPosition, ts: int = T2) -> TraderState:
    return TraderState(address=ADDRESS, exchange="hyperliquid", account_value=D(10_000), notional=D(0),
                       positions=positions, ts=ts, recv_ts=ts + 5)


def book(*positions: TraderPosition) -> dict[str, TraderPosition]:
    return open_positions(state(*positions, ts=T1))


def kinds(changes: list[PositionChange]) -> list[tuple[str, str, Decimal, Decimal]]:
    return [(c.symbol, c.change, c.old_size, c.new_size) for c in changes]


def test_change_kinds_from_signed_sizes() -> None:
    assert change_kind(D(0), D("1.5")) == "open"
    assert change_kind(D(0), D("-1.5")) == "open"
    assert change_kind(D("1.5"), D(0)) == "close"
    assert change_kind(D("1"), D("2")) == "increase"
    assert change_kind(D("-1"), D("-2")) == "increase"
    assert change_kind(D("2"), D("1")) == "decrease"
    assert change_kind(D("-2"), D("-0.5")) == "decrease"
    assert change_kind(D("1"), D("-1")) == "flip"
    assert change_kind(D("-3"), D("0.1")) == "flip"
    assert change_kind(D("1.0"), D("1")) is None  # the same size written two ways


def test_an_open_carries_the_new_position() -> None:
    [change] = diff_positions({}, state(pos("BTC-USD-PERP", "0.5", entry="60000", pnl="12.5", leverage="10",
                                            liq="54000")))
    assert change == PositionChange(
        account=ADDRESS, exchange="hyperliquid", symbol="BTC-USD-PERP", old_size=D(0), new_size=D("0.5"),
        price=D(60000), change="open", position_value=D(30000), unrealized_pnl=D("12.5"), leverage=D(10),
        liquidation_price=D(54000), liquidated=False, ts=T2, recv_ts=T2 + 5)


def test_a_close_carries_the_position_it_closed() -> None:
    before = book(pos("ETH-USD-PERP", "-4", entry="3000", pnl="-40", liq="3500"))
    [change] = diff_positions(before, state())
    assert (change.change, change.old_size, change.new_size) == ("close", D(-4), D(0))
    assert (change.price, change.position_value, change.unrealized_pnl, change.liquidation_price) == (
        D(3000), D(12000), D(-40), D(3500))
    assert change.liquidated is False


def test_increase_and_partial_close() -> None:
    before = book(pos("BTC-USD-PERP", "1"), pos("ETH-USD-PERP", "-10"))
    after = state(pos("BTC-USD-PERP", "1.25", entry="101"), pos("ETH-USD-PERP", "-4"))
    changes = diff_positions(before, after)
    assert kinds(changes) == [("BTC-USD-PERP", "increase", D(1), D("1.25")),
                              ("ETH-USD-PERP", "decrease", D(-10), D(-4))]
    assert changes[0].price == D(101)  # the entry price after the change
    assert changes[1].position_value == D(400)


def test_a_flip_is_one_change_not_a_decrease() -> None:
    before = book(pos("BTC-USD-PERP", "2", entry="100"), pos("SOL-USD-PERP", "-50", entry="150"))
    after = state(pos("BTC-USD-PERP", "-1", entry="95", liq="120"), pos("SOL-USD-PERP", "50", entry="140"))
    changes = diff_positions(before, after)
    assert kinds(changes) == [("BTC-USD-PERP", "flip", D(2), D(-1)), ("SOL-USD-PERP", "flip", D(-50), D(50))]
    assert (changes[0].price, changes[0].liquidation_price) == (D(95), D(120))


def test_a_close_by_liquidation_is_marked() -> None:
    before = book(pos("BTC-USD-PERP", "3"), pos("ETH-USD-PERP", "5"), pos("SOL-USD-PERP", "-7"))
    after = state(pos("ETH-USD-PERP", "2"))  # BTC liquidated; ETH partly liquidated; SOL closed by hand
    changes = diff_positions(before, after, liquidated={"BTC-USD-PERP", "ETH-USD-PERP"})
    assert [(c.symbol, c.change, c.liquidated) for c in changes] == [
        ("BTC-USD-PERP", "close", True), ("ETH-USD-PERP", "decrease", False),
        ("SOL-USD-PERP", "close", False)]


def test_unchanged_sizes_are_no_change_even_when_prices_move() -> None:
    before = book(pos("BTC-USD-PERP", "1", entry="100", pnl="0"))
    assert diff_positions(before, state(pos("BTC-USD-PERP", "1", entry="100", value="130", pnl="30"))) == []


def test_coins_appearing_and_disappearing_between_polls() -> None:
    # SOL opened and closed between two polls: neither snapshot saw it, so there is no change
    assert diff_positions({}, state()) == []
    # DOGE appears at one poll and is gone at the next: an open, then a close
    poll1 = book()
    poll2 = state(pos("DOGE-USD-PERP", "1000", entry="0.1"), ts=T1 + 30_000_000)
    poll3 = state(ts=T2)
    assert kinds(diff_positions(poll1, poll2)) == [("DOGE-USD-PERP", "open", D(0), D(1000))]
    assert kinds(diff_positions(open_positions(poll2), poll3)) == [("DOGE-USD-PERP", "close", D(1000), D(0))]


def test_a_zero_size_listed_is_no_position() -> None:
    before = book(pos("BTC-USD-PERP", "1"))
    assert kinds(diff_positions(before, state(pos("BTC-USD-PERP", "0.0")))) == [
        ("BTC-USD-PERP", "close", D(1), D(0))]
    assert diff_positions({}, state(pos("BTC-USD-PERP", "0"))) == []
