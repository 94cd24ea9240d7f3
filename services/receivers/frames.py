"""What every exchange file shares: the bad-frame error, symbol normalization, exact decimal
arithmetic and the one way a funding rate becomes an event."""
from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from functools import lru_cache
from typing import Generic, TypeVar

import msgspec

from shared.decimals import rounded, rounded_quotient
from shared.events import FundingRate

T = TypeVar("T")
V = TypeVar("V")
# Quote assets in the order they are tried against a venue symbol's tail.
QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "TRY", "BTC", "ETH", "BNB")


class FrameError(ValueError):
    """A frame that cannot become events: counted and skipped, never a reconnect."""


class ReconnectNotice(Exception):
    """The venue says it will soon close this connection (a server upgrade or shutdown): open a
    new one now, as a planned reconnect, rather than wait for the drop."""


@lru_cache(maxsize=8192)  # a venue has a few thousand symbols; the answer never changes
def split_concatenated(raw_symbol: str) -> tuple[str, str]:
    """BTCUSDT -> (BTC, USDT) by the longest known quote suffix."""
    for quote in QUOTES:
        if raw_symbol.endswith(quote) and len(raw_symbol) > len(quote):
            return raw_symbol[: -len(quote)], quote
    raise FrameError(f"unknown quote asset in symbol {raw_symbol!r}")


@lru_cache(maxsize=8192)  # called for every event: a few thousand symbols, answers never change
def normalized(base: str, quote: str, perpetual: bool) -> str:
    """BASE-QUOTE for spot, BASE-QUOTE-PERP for perpetuals."""
    symbol = f"{base.upper()}-{quote.upper()}"
    return symbol + "-PERP" if perpetual else symbol


class SymbolTable(dict[str, V], Generic[V]):
    """raw symbol -> what `of` says of it, each worked out once and read by subscript: a dict lookup
    costs half an lru_cache call, and the trade loops look a symbol up for every trade. A symbol `of`
    refuses (FrameError) is not kept; at most 8192 are, as many as an lru_cache of the same use."""

    __slots__ = ("of",)

    def __init__(self, of: Callable[[str], V]) -> None:
        super().__init__()
        self.of = of

    def __missing__(self, raw_symbol: str) -> V:
        value = self.of(raw_symbol)
        if len(self) < 8192:
            self[raw_symbol] = value
        return value


def ms_to_us(ms: int) -> int:
    """Exchange milliseconds to tradehub microseconds."""
    return ms * 1000


_LIMIT = Decimal(10) ** 30  # a Decimal bound: comparing with the int 10**30 costs 4x as much, per call
_NEGATIVE_LIMIT = -_LIMIT
# The trade loops test a figure x without comparing Decimals (each comparison looks the thread's decimal
# context up): x.is_finite() and x.adjusted() < MAGNITUDE says -10**30 < x < 10**30 (a finite x below
# 10**30 in magnitude; a zero whatever its exponent passes the comparison, and may fail this test).
# It is enough, not needed: a figure that fails it goes to finite_pair(), which decides as finite() does.
MAGNITUDE = 30


def finite(value: Decimal, what: str) -> Decimal:
    """Refuse NaN/Infinity and absurd magnitudes a price or size can never have.

    One chained comparison does it all: Infinity is out of range, and a NaN either raises
    InvalidOperation (the default context traps it) or compares False."""
    try:
        if _NEGATIVE_LIMIT < value < _LIMIT:
            return value
    except InvalidOperation as exc:
        raise FrameError(f"{what} is not a number: {value}") from exc
    raise FrameError(f"{what} out of range: {value}")


def finite_pair(first: Decimal, first_what: str, second: Decimal, second_what: str) -> None:
    """finite() of two figures (a trade's price and size) in one call, the first checked first: the
    trade loops call it when their own test (MAGNITUDE) fails. finite() is called only to raise."""
    try:
        if _NEGATIVE_LIMIT < first < _LIMIT and _NEGATIVE_LIMIT < second < _LIMIT:
            return
    except InvalidOperation:
        pass
    finite(first, first_what)
    finite(second, second_what)


# What a decoder raises for a frame it cannot read: undecodable text too (invalid UTF-8, lone
# surrogates), for which msgspec raises UnicodeError
DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeError)


def decode(decoder: msgspec.json.Decoder[T], raw: bytes | str) -> T:
    """Decode with the frame error every caller expects."""
    try:
        return decoder.decode(raw)
    except DECODE_ERRORS as exc:
        raise FrameError(str(exc)) from exc


# Decimal arithmetic for venues that quote in USD or contracts: a fixed context, so a
# result never depends on whatever decimal context the calling thread happens to carry.
EXACT = Context(prec=28, rounding=ROUND_HALF_EVEN)  # Python's default precision, written down
# Bound once: looking a method up on the context costs as much as the arithmetic itself. The OKX and
# Deribit trade loops call exact_multiply and exact_divide themselves, and multiply() and divide()
# only when a shortcut cannot say the answer.
exact_multiply, exact_divide = EXACT.multiply, EXACT.divide


def multiply(a: Decimal, b: Decimal, what: str) -> Decimal:
    """a * b in EXACT, at most shared.decimals.PLACES places; an overflow is a bad frame, not a crash."""
    try:
        value = rounded(exact_multiply(a, b))
    except ArithmeticError as exc:
        raise FrameError(f"cannot compute {what}: {a} * {b}") from exc
    return finite(value, what)


def divide(a: Decimal, b: Decimal, what: str) -> Decimal:
    """a / b in EXACT, at most shared.decimals.PLACES places; a zero divisor (a price of 0) is a
    bad frame, not a crash."""
    try:
        value = rounded_quotient(exact_divide(a, b))
    except ArithmeticError as exc:  # DivisionByZero, InvalidOperation (0/0), Overflow
        raise FrameError(f"cannot compute {what}: {a} / {b}") from exc
    return finite(value, what)


def annualized(rate: Decimal, interval_hours: Decimal) -> Decimal:
    """A funding rate per interval -> per year: rate * (24 / interval_hours) * 365."""
    return divide(multiply(rate, Decimal(24 * 365), "annualized rate"), interval_hours, "annualized rate")


def funding_rate(exchange: str, symbol: str, raw_symbol: str, rate: Decimal, interval_hours: Decimal, *,
                 ts: int, recv_ts: int, next_funding_ts: int | None = None) -> FundingRate:
    """A FundingRate whose interval is a positive number of hours and whose rate per year is
    worked out from it, whatever the venue: a zero or negative interval is a bad frame."""
    if not finite(interval_hours, "funding interval") > 0:
        raise FrameError(f"funding interval of {interval_hours} hours")
    return FundingRate(exchange=exchange, symbol=symbol, raw_symbol=raw_symbol, rate=rate,
                       interval_hours=interval_hours, annualized=annualized(rate, interval_hours),
                       next_funding_ts=next_funding_ts, ts=ts, recv_ts=recv_ts)


def decimal_of(text: str, what: str) -> Decimal:
    """A decimal sent as text outside a typed field (e.g. "" when absent) -> a finite Decimal."""
    try:
        return finite(Decimal(text), what)
    except InvalidOperation as exc:
        raise FrameError(f"{what} is not a number: {text!r}") from exc


def optional_decimal(text: str, what: str) -> Decimal | None:
    """A decimal a venue may leave empty ("")."""
    return None if text == "" else decimal_of(text, what)


def ms_of(text: str, what: str) -> int:
    """Milliseconds a venue sends as a digits-only string."""
    if not (text.isascii() and text.isdigit() and len(text) < 16):
        raise FrameError(f"{what} is not a time: {text!r}")
    return int(text)
