"""Figures tradehub derives itself (a quotient: an inverse contract's base size, a VWAP, an
annualized rate; a product of a derived figure) carry at most PLACES decimal places.

A quotient in 28 significant digits can have 31 or more decimal places when it is small
(10 USD / 11,179.7 USD per BTC = 0.000894...; a VWAP of a token priced at 0.00001), more than
the store accepts (services/processor/store.py: 30). Rounding half-even at the 18th place keeps
every such figure storable, leaves room for one more product with a price, and changes nothing a
user reconciles: the figures the venue sent are kept as they came (raw_size, prices, sizes).
"""

from __future__ import annotations

import argparse
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

PLACES = 18
QUANTUM = Decimal(1).scaleb(-PLACES)
_WIDE = Context(prec=100, rounding=ROUND_HALF_EVEN)  # quantize needs every digit of the result
# quantize(value, QUANTUM): value rounded half-even to PLACES places (InvalidOperation past 100 digits).
# Bound once: a context's method called by position costs a third of value.quantize(q, context=c)
quantize = _WIDE.quantize


def rounded(value: Decimal) -> Decimal:
    """value with at most PLACES decimal places; one with fewer (or not finite) is returned as is.

    The places are read off str(value), a fifth of the cost of as_tuple() (which copies every
    digit; this runs for every OKX and Deribit trade). Written without an exponent, a value has at
    most PLACES places when its text is at most PLACES + 2 characters long, and more exactly when
    its point comes before the last PLACES + 1 characters; NaN and Infinity have no point."""
    text = str(value)
    if "E" not in text:
        if len(text) < PLACES + 3 or "." not in text[: -PLACES - 1]:
            return value
        return quantize(value, QUANTUM)
    exponent = value.as_tuple().exponent  # scientific notation: a tiny value, or a positive exponent
    return quantize(value, QUANTUM) if isinstance(exponent, int) and exponent < -PLACES else value


def rounded_quotient(value: Decimal) -> Decimal:
    """rounded() for a quotient, which nearly always has more than PLACES places (an inexact one
    has 28 digits): quantize first, and keep the result when it differs from the value, which only
    more places allow. An equal result (0.5 equals 0.50000000000000000000) says nothing of the
    exponent, so rounded() decides then, as for Infinity and for more digits than _WIDE holds."""
    try:
        cut = quantize(value, QUANTUM)
    except InvalidOperation:
        return rounded(value)
    return cut if cut != value else rounded(value)


def usd_argument(text: str) -> Decimal:
    """A command line's USD amount (argparse `type=`): a finite Decimal of 0 or more."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of USD") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a USD amount of 0 or more")
    return value


PERCENT_QUANTUM = Decimal("0.0001")


def percent(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole in percent, to four places (a ratio shown to people, not money)."""
    return (part / whole * 100).quantize(PERCENT_QUANTUM)
