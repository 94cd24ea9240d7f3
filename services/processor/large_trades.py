"""Large trades: a trade whose USD value (shared.usd) reaches its symbol's threshold. Pure: no I/O.

A symbol without a USD value (ETH-BTC, ...) is never "large".
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from shared.events import LargeTrade, Trade
from shared.settings import AnalyticsSettings
from shared.usd import notional, symbol_parts, usd_quoted

SYMBOLS_KEPT = 65536  # thresholds remembered; past it the memory starts afresh


def setting_decimal(value: float) -> Decimal:
    """A float setting as the decimal it was written as: repr is the shortest exact text; 250.0 -> 250."""
    exact = Decimal(repr(value))
    return exact.to_integral_value() if exact == exact.to_integral_value() else exact


class LargeTradeRule:
    """Thresholds in USD: the symbol's own (BTC-USDT-PERP), else its base asset's (BTC), else the default."""

    def __init__(self, default: Decimal, by_symbol: Mapping[str, Decimal] | None = None) -> None:
        self.default = default
        self.by_symbol = dict(by_symbol or {})
        # symbol -> its threshold, None when it has no USD value: worked out once, checked per trade
        self._of_symbol: dict[str, Decimal | None] = {}

    @classmethod
    def from_settings(cls, settings: AnalyticsSettings) -> LargeTradeRule:
        # settings hold floats (validated > 0)
        return cls(setting_decimal(settings.large_trade_usd_default),
                   {key: setting_decimal(value) for key, value in settings.large_trade_usd_by_symbol.items()})

    def threshold(self, symbol: str) -> Decimal:
        found = self.by_symbol.get(symbol)
        if found is None:
            found = self.by_symbol.get(symbol_parts(symbol)[0])
        return self.default if found is None else found

    def check(self, trade: Trade) -> LargeTrade | None:
        """The LargeTrade of a trade at or over its threshold; None otherwise."""
        symbol = trade.symbol
        try:
            threshold = self._of_symbol[symbol]
        except KeyError:
            if len(self._of_symbol) >= SYMBOLS_KEPT:
                self._of_symbol.clear()
            threshold = self._of_symbol[symbol] = self.threshold(symbol) if usd_quoted(symbol) else None
        if threshold is None:
            return None
        value = notional(trade.price, trade.size)
        if value < threshold:
            return None
        return LargeTrade(
            exchange=trade.exchange, symbol=trade.symbol, trade_id=trade.trade_id, price=trade.price,
            size=trade.size, side=trade.side, usd_value=value, threshold=threshold, ts=trade.ts,
            recv_ts=trade.recv_ts,
        )
