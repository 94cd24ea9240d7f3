"""The USD value of a trade: what a large-trade threshold and a `min_usd` filter compare against.

USD value = price * size, exactly, for symbols quoted in USD, USDT or USDC (stablecoins are
taken at par); other quotes (ETH-BTC, ...) have no USD value.
"""
from __future__ import annotations

from decimal import Context, Decimal

USD_QUOTES = frozenset({"USD", "USDT", "USDC"})
_EXACT = Context(prec=80)  # price * size never rounds


def symbol_parts(symbol: str) -> tuple[str, str]:
    """BASE-QUOTE[-PERP] -> (BASE, QUOTE); ("", "") when the symbol is not normalized."""
    parts = symbol.split("-")
    return (parts[0], parts[1]) if len(parts) >= 2 else ("", "")


def usd_quoted(symbol: str) -> bool:
    return symbol_parts(symbol)[1] in USD_QUOTES


def notional(price: Decimal, size: Decimal) -> Decimal:
    """price * size, exactly."""
    return _EXACT.multiply(price, size)


def usd_value(symbol: str, price: Decimal, size: Decimal) -> Decimal | None:
    """price * size when the quote is a USD or a USD stablecoin; None otherwise."""
    return notional(price, size) if usd_quoted(symbol) else None
