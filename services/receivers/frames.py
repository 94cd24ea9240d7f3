"""What every exchange file shares: the bad-frame error and symbol normalization."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

import msgspec

# Quote assets in the order they are tried against a venue symbol's tail.
QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "TRY", "BTC", "ETH", "BNB")


class FrameError(ValueError):
    """A frame that cannot become events: counted and skipped, never a reconnect."""


def split_concatenated(raw_symbol: str) -> tuple[str, str]:
    """BTCUSDT -> (BTC, USDT) by the longest known quote suffix."""
    for quote in QUOTES:
        if raw_symbol.endswith(quote) and len(raw_symbol) > len(quote):
            return raw_symbol[: -len(quote)], quote
    raise FrameError(f"unknown quote asset in symbol {raw_symbol!r}")


def normalized(base: str, quote: str, perpetual: bool) -> str:
    """BASE-QUOTE for spot, BASE-QUOTE-PERP for perpetuals."""
    symbol = f"{base.upper()}-{quote.upper()}"
    return symbol + "-PERP" if perpetual else symbol


def ms_to_us(ms: int) -> int:
    """Exchange milliseconds to tradehub microseconds."""
    return ms * 1000


def finite(value: Decimal, what: str) -> Decimal:
    """Refuse NaN/Infinity and absurd magnitudes a price or size can never have."""
    try:
        if not value.is_finite() or not (-(10**30) < value < 10**30):
            raise FrameError(f"{what} out of range: {value}")
    except InvalidOperation as exc:  # signalling NaN compares with an error
        raise FrameError(f"{what} is not a number: {value}") from exc
    return value


def decode(decoder: msgspec.json.Decoder, raw: bytes | str):  # type: ignore[no-untyped-def]
    """Decode with the frame error every caller expects."""
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrameError(str(exc)) from exc
