"""The shortcuts the trade parses take give exactly what the careful way gives: the same digits,
the same exponent, the same refusals."""
from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Context, Decimal

import pytest

from services.receivers.frames import FrameError, divide, multiply
from shared.decimals import PLACES, rounded, rounded_quotient

_WIDE = Context(prec=100, rounding=ROUND_HALF_EVEN)


def rounded_by_tuple(value: Decimal) -> Decimal:
    """What rounded() did before it read the places off the text: the exponent from as_tuple()."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PLACES:
        return value.quantize(Decimal(1).scaleb(-PLACES), context=_WIDE)
    return value


EDGES = [
    "0.123456789012345678",  # 18 places, 20 characters: kept
    "0.1234567890123456789",  # 19 places: rounded
    "-0.123456789012345678", "-0.1234567890123456789",
    "1.000000000000000000", "1.0000000000000000000",  # trailing zeros: 18 kept, 19 cut to 18
    "12345678901234567890", "123456789012345678901234567890",  # long integers: no point at all
    "12345678901234567.8", "1234567890.123456789012345678",
    "0.000001", "0.0000001", "1E-18", "1E-19", "1.5E-20", "-4.5E-19", "5E-19",  # scientific notation
    "0E-25", "-0E-19", "0E-18", "0", "-0", "0.000000000000000000",
    "1E+5", "1.23E+7", "9.999999999999999999999999999E+29",  # positive exponents
    "3.55", "0.01", "0.000894478384929828358542626", "13776.28722201384988576409648",
    "0.0000000000000000005", "0.0000000000000000015", "0.0000000000000000025",  # half-even at the 18th place
]


@pytest.mark.parametrize("text", [*EDGES, "1E+80", "-1.0000000000000000000000000000E+90"])
@pytest.mark.parametrize("rounding", [rounded, rounded_quotient])
def test_rounded_matches_the_exponent_test(rounding: Callable[[Decimal], Decimal], text: str) -> None:
    value = Decimal(text)
    got, want = rounding(value), rounded_by_tuple(value)
    assert got == want and str(got) == str(want), (text, str(got), str(want))


@pytest.mark.parametrize("text", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("rounding", [rounded, rounded_quotient])
def test_rounded_returns_what_is_not_finite_as_is(rounding: Callable[[Decimal], Decimal], text: str) -> None:
    value = Decimal(text)
    assert str(rounding(value)) == str(value)


@pytest.mark.parametrize("a, b", [
    ("355", "0.01"), ("0.1234567890123", "0.000001"), ("7", "0.1000000000000000000"),
    ("123456789012345678901234", "0.0001"), ("1.5", "1E-18"),
])
def test_multiply_and_divide_round_as_before(a: str, b: str) -> None:
    x, y = Decimal(a), Decimal(b)
    product, quotient = multiply(x, y, "x"), divide(x, y, "x")
    assert str(product) == str(rounded_by_tuple(Context(prec=28).multiply(x, y)))
    assert str(quotient) == str(rounded_by_tuple(Context(prec=28).divide(x, y)))


@pytest.mark.parametrize("a, b, message", [
    ("NaN", "1", "not a number"),
    ("1E+20", "1E+10", "out of range"),
    ("-1E+20", "1E+10", "out of range"),
    ("Infinity", "1", "out of range"),
    ("sNaN", "1", "cannot compute"),
])
def test_multiply_refuses_as_before(a: str, b: str, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        multiply(Decimal(a), Decimal(b), "x")


@pytest.mark.parametrize("a, b, message", [
    ("1", "0", "cannot compute"),
    ("0", "0", "cannot compute"),
    ("1E+29", "0.01", "out of range"),
    ("NaN", "2", "not a number"),
])
def test_divide_refuses_as_before(a: str, b: str, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        divide(Decimal(a), Decimal(b), "x")
