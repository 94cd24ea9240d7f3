"""Watched traders' changes as alerts: the words of each kind, the minimum, the key per snapshot."""
from __future__ import annotations

from decimal import Decimal

from services.processor.trader_alerts import change_alert
from shared.events import ChangeKind, PositionChange

D = Decimal
ADDRESS = "0x" + "9f" * 20


def change(kind: ChangeKind, old: str, new: str, value: str = "20000",
           liquidated: bool = False) -> PositionChange:
    return PositionChange(account=ADDRESS, exchange="hyperliquid", symbol="ETH-USD-PERP", old_size=D(old),
                          new_size=D(new), price=D(3000), change=kind, position_value=D(value),
                          unrealized_pnl=D(-12), leverage=None, liquidation_price=None, liquidated=liquidated,
                          ts=1, recv_ts=2)


def test_each_kind_reads_as_what_happened() -> None:
    titles = {kind: change_alert(change(kind, old, new), D(0)) for kind, old, new in [
        ("open", "0", "-2"), ("increase", "1", "2"), ("decrease", "-3", "-1"), ("flip", "2", "-1"),
        ("close", "-2", "0")]}
    assert {kind: alert.title if alert else None for kind, alert in titles.items()} == {
        "open": "0x9f9f…9f9f opened short ETH-USD-PERP",
        "increase": "0x9f9f…9f9f increased long ETH-USD-PERP",
        "decrease": "0x9f9f…9f9f decreased short ETH-USD-PERP",
        "flip": "0x9f9f…9f9f flipped ETH-USD-PERP long to short",
        "close": "0x9f9f…9f9f closed short ETH-USD-PERP",
    }
    alert = titles["flip"]
    assert alert is not None and alert.key == f"trader:{ADDRESS}:ETH-USD-PERP:1" and alert.severity == "info"
    assert alert.text.splitlines() == [ADDRESS, "size 2 -> -1", "value $20000", "entry 3000", "uPnL -12"]


def test_the_minimum_and_the_liquidation_mark() -> None:
    assert change_alert(change("open", "0", "1", value="999.99"), D(1000)) is None
    assert change_alert(change("open", "0", "1", value="1000"), D(1000)) is not None
    liquidated = change_alert(change("close", "5", "0", liquidated=True), D(0))
    assert liquidated is not None and liquidated.severity == "warning"
    assert liquidated.title.endswith("was liquidated on long ETH-USD-PERP")
