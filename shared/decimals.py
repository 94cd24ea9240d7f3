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
_QUANTUM = Decimal(1).scaleb(-PLACES)
_WIDE = Context(prec=100, rounding=ROUND_HALF_EVEN)  # quantize needs every digit of the result


def rounded(value: Decimal) -> Decimal:
    """value with at most PLACES decimal places; one with fewer (or not finite) is returned as is."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PLACES:
        return value.quantize(_QUANTUM, context=_WIDE)
    return value


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
