"""Large trades: exact USD value for USD-quoted symbols, thresholds per symbol, then per
base asset, then the default."""

from __future__ import annotations

from decimal import Decimal

from services.processor.large_trades import LargeTradeRule
from shared.config import load_settings
from shared.events import Trade
from shared.usd import usd_value

D = Decimal


def trade(symbol: str, price: str, size: str, exchange: str = "bybit") -> Trade:
    return Trade(
        exchange=exchange,
        symbol=symbol,
        raw_symbol="X",
        trade_id="77",
        price=D(price),
        size=D(size),
        side="sell",
        ts=1_704_067_200_000_000,
        recv_ts=1_704_067_200_000_500,
    )


def test_usd_value_is_exact_and_only_for_usd_quotes() -> None:
    exact = usd_value("BTC-USDT-PERP", D("65000.10"), D("0.123456789"))
    assert exact is not None and str(exact) == "8024.70363067890"  # 65000 * 0.123456789 + 0.10 * 0.123456789
    assert usd_value("ETH-USDC", D("3000"), D("2")) == D(6000)
    # Deribit inverse: size already in base
    assert usd_value("BTC-USD-PERP", D("60000"), D("0.5")) == D(30000)
    assert usd_value("ETH-BTC", D("0.05"), D("1000")) is None
    assert usd_value("WEIRD", D("1"), D("1")) is None


def test_thresholds_symbol_then_base_then_default() -> None:
    settings = load_settings(
        {},
        large_trade_usd_default=100_000,
        large_trade_usd_by_symbol={"BTC-USDT-PERP": 1_000_000, "ETH": 250_000.5},
    )
    rule = LargeTradeRule.from_settings(settings.analytics)
    assert str(rule.threshold("BTC-USDT-PERP")) == "1000000"
    assert str(rule.threshold("BTC-USDT")) == "100000"  # no BTC entry: the default
    assert str(rule.threshold("ETH-USDC-PERP")) == "250000.5"
    assert rule.threshold("SOL-USDT") == D(100_000)


def test_large_trade_at_or_over_the_threshold() -> None:
    rule = LargeTradeRule(D(100_000), {"BTC-USDT-PERP": D(1_000_000)})
    assert rule.check(trade("BTC-USDT-PERP", "100000", "9.99999")) is None
    found = rule.check(trade("BTC-USDT-PERP", "100000", "10"))
    assert found is not None
    assert (found.usd_value, found.threshold, found.trade_id, found.side, found.exchange) == (
        D(1_000_000),
        D(1_000_000),
        "77",
        "sell",
        "bybit",
    )
    assert (found.ts, found.recv_ts) == (1_704_067_200_000_000, 1_704_067_200_000_500)
    assert rule.check(trade("SOL-USDT", "100", "1000")) is not None  # 100 000 USD: the default, inclusive
    assert rule.check(trade("ETH-BTC", "1", "1000000")) is None
