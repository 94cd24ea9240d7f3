"""Derived figures are rounded to shared.decimals.PLACES places, and so always storable."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from services.processor.store import checked
from services.receivers.exchanges import deribit
from services.receivers.frames import divide, multiply
from shared.decimals import PLACES, rounded
from tests.fixtures import frame


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0.0008944783849298283585426264", "0.000894478384929828"),  # 10 / 11179.7 in 28 digits
        ("0.0000000000000000005", "0"),  # half-even: 5e-19 rounds to the even 0
        ("0.0000000000000000015", "0.000000000000000002"),
        ("13776.28722201384988576409648", "13776.287222013849885764"),
        ("1.5", "1.5"),  # fewer places: untouched, exponent too
        ("1E+5", "1E+5"),
        ("123456789012345678901234567.1234567890123456789", "123456789012345678901234567.123456789012345679"),
    ],
)
def test_rounded_keeps_at_most_18_places(value: str, expected: str) -> None:
    result = rounded(D(value))
    assert result == D(expected)
    assert -result.as_tuple().exponent <= PLACES


def test_rounded_leaves_what_is_not_finite() -> None:
    assert rounded(D("Infinity")) == D("Infinity") and rounded(D("NaN")).is_nan()


def test_quotients_and_products_are_rounded() -> None:
    assert divide(D(10), D("11179.7"), "size") == D("0.000894478384929828")
    assert multiply(D("0.000894478384929828"), D("0.000000123"), "x") == D("0.000000000110020841")


def test_a_small_inverse_trade_is_storable() -> None:
    """10 USD at 11,179.7 USD: the base size the store refused when it had 31 places."""
    raw = frame("deribit", "trades").replace(b'"price":8950', b'"price":11179.7')
    [trade] = deribit.parse_frame(raw, 0)
    assert trade.size == D("0.000894478384929828") and trade.raw_size == D(10)
    assert checked(trade.size, "size") == trade.size
