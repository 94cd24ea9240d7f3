"""The liquidation-distance alert (services/processor/account_alerts.py), pure: a position whose mark
(its entry without one) is within accounts.liquidation_alert_pct of the liquidation price the venue
gives raises one alert keyed account:<exchange>:<account>:liq-near:<symbol>."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.processor.account_alerts import liquidation_distance, liquidation_near_alert
from shared.accounts import AccountAlerts
from shared.events import Position

PCT = Decimal(5)


def position(size: str, mark: str | None, liquidation: str | None, entry: str = "100") -> Position:
    return Position(account="lt-main", exchange="lighter", symbol="ETH-USD-PERP", size=Decimal(size),
                    entry_price=Decimal(entry), mark_price=None if mark is None else Decimal(mark),
                    liquidation_price=None if liquidation is None else Decimal(liquidation), ts=7, recv_ts=8)


@pytest.mark.parametrize(("size", "mark", "liquidation", "distance"), [
    ("2", "100", "96", Decimal(4)),  # long: 4% above its liquidation
    ("2", "100", "90", Decimal(10)),
    ("-1", "100", "103", Decimal(3)),  # short: 3% below
    ("2", "95", "96", Decimal(-100) / 95),  # past it: negative
])
def test_the_distance_is_signed_toward_the_liquidation(size: str, mark: str, liquidation: str,
                                                         distance: Decimal) -> None:
    assert liquidation_distance(position(size, mark, liquidation)) == distance


def test_near_alerts_far_does_not() -> None:
    alert = liquidation_near_alert(position("2", "100", "96"), PCT, AccountAlerts())
    assert alert is not None
    assert alert.key == "account:lighter:lt-main:liq-near:ETH-USD-PERP"
    assert alert.severity == "critical" and (alert.ts, alert.recv_ts) == (7, 8)
    assert alert.title == "lt-main (lighter): ETH-USD-PERP long within 5% of its liquidation price"
    assert "liquidation at 96" in alert.text and "4.00% away" in alert.text
    assert liquidation_near_alert(position("2", "100", "90"), PCT, AccountAlerts()) is None
    # the title stays the same as the price moves: the general service sends it once per window
    closer = liquidation_near_alert(position("2", "97", "96"), PCT, AccountAlerts())
    assert closer is not None and closer.title == alert.title


def test_entry_stands_in_for_a_missing_mark_and_past_liquidation_still_alerts() -> None:
    assert liquidation_near_alert(position("-1", None, "102", entry="100"), PCT, AccountAlerts()) is not None
    assert liquidation_near_alert(position("2", "95", "96"), PCT, AccountAlerts()) is not None


@pytest.mark.parametrize("held", [position("2", "100", None), position("2", "100", "0"),
                                  position("0", "100", "99")])
def test_nothing_to_measure_is_no_alert(held: Position) -> None:
    assert liquidation_distance(held) is None
    assert liquidation_near_alert(held, PCT, AccountAlerts()) is None


def test_liquidation_alerts_off_silence_it() -> None:
    assert liquidation_near_alert(position("2", "100", "99"), PCT, AccountAlerts(liquidations=False)) is None
