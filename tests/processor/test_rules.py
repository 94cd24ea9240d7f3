"""The rule evaluator: each kind, exact on Decimals, and parameter validation."""
from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from services.processor.rules import KINDS, Memory, evaluate
from services.processor.rules_silence import KIND as SILENT
from services.processor.rules_silence import latest_seen, silences
from shared.alert_rules import PARAMS, Rule, validate
from shared.events import (
    FundingRate,
    HedgeStatus,
    LargeTrade,
    Liquidation,
    MarkPrice,
    PositionChange,
    Spike,
    StreamLag,
    Trade,
)

D = Decimal


def funding(annualized: str, exchange: str = "binance", rate: str = "0.0001") -> FundingRate:
    return FundingRate(ts=1, recv_ts=1, exchange=exchange, symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT",
                       rate=D(rate), interval_hours=D(8), annualized=D(annualized))


def mark(price: str, ts: int = 1) -> MarkPrice:
    return MarkPrice(ts=ts, recv_ts=ts, exchange="bybit", symbol="ETH-USDT-PERP", raw_symbol="ETHUSDT",
                     mark_price=D(price))


def test_funding_annualized_above_on_any_venue_is_exact() -> None:
    rule = Rule(1, "funding", {"op": "above", "level": "0.5"})
    assert evaluate(rule, funding("0.5"), {}) is None  # equal is not above
    fire = evaluate(rule, funding("0.5000000001", exchange="okx"), {})
    assert fire is not None and "okx" in fire.title
    one_venue = Rule(2, "funding", {"op": "above", "level": "0.5", "exchange": "bybit"})
    assert evaluate(one_venue, funding("0.9"), {}) is None


def test_funding_rate_below() -> None:
    rule = Rule(1, "funding", {"op": "below", "field": "rate", "level": "-0.0001"})
    assert evaluate(rule, funding("0", rate="-0.0001"), {}) is None
    assert evaluate(rule, funding("0", rate="-0.00010001"), {}) is not None


def test_price_crossing_needs_the_price_before() -> None:
    rule = Rule(7, "price", {"op": "crossing", "level": "2000"})
    memory: Memory = {}
    assert evaluate(rule, mark("1999.99"), memory) is None  # nothing before it
    up = evaluate(rule, mark("2000.00", 2), memory)
    assert up is not None and "up" in up.title
    assert evaluate(rule, mark("2001", 3), memory) is None
    assert evaluate(rule, mark("1999", 4), memory) is not None  # down through it
    assert evaluate(rule, mark("2500", 3), memory) is None  # older than the last seen: stale
    trade = Trade(ts=5, recv_ts=5, exchange="bybit", symbol="ETH-USDT-PERP", raw_symbol="ETHUSDT",
                  trade_id="1", price=D("2100"), size=D(1), side="buy")
    assert evaluate(rule, trade, memory) is not None  # trades count too


def test_price_above_and_below() -> None:
    assert evaluate(Rule(1, "price", {"op": "above", "level": "10"}), mark("10.01"), {}) is not None
    assert evaluate(Rule(1, "price", {"op": "below", "level": "10"}), mark("10.01"), {}) is None


def test_liquidation_and_large_trade_over_usd() -> None:
    liq = Liquidation(ts=1, recv_ts=1, exchange="binance", symbol="BTC-USDT-PERP", raw_symbol="BTCUSDT",
                      side="sell", price=D(100), size=D(10), usd_value=D(1000))
    assert evaluate(Rule(1, "liquidation", {"min_usd": "1000"}), liq, {}) is not None
    assert evaluate(Rule(1, "liquidation", {"min_usd": "1000.01"}), liq, {}) is None
    big = LargeTrade(ts=1, recv_ts=1, exchange="okx", symbol="BTC-USDT-PERP", trade_id="9", price=D(1),
                     size=D(5), side="buy", usd_value=D(5), threshold=D(1))
    assert evaluate(Rule(1, "large_trade", {"min_usd": "5"}), big, {}) is not None
    assert evaluate(Rule(1, "liquidation", {"min_usd": "5"}), big, {}) is None


def test_spike_at_a_z_score() -> None:
    spike = Spike(ts=1, recv_ts=1, exchange="binance", symbol="BTC-USDT-PERP", metric="oi", interval="5m",
                  value=D(1), mean=D(0), stdev=D(1), z=D("3.2"), threshold=D(3))
    assert evaluate(Rule(1, "spike", {"min_z": "3.2"}), spike, {}) is not None
    assert evaluate(Rule(1, "spike", {"min_z": "3", "metric": "volume"}), spike, {}) is None


def test_watched_trader_change_by_kind_and_value() -> None:
    change = PositionChange(ts=1, recv_ts=1, account="0x" + "ab" * 20, exchange="hyperliquid",
                            symbol="BTC-USD-PERP", old_size=D(1), new_size=D(-1), change="flip",
                            position_value=D("-50000"))
    assert evaluate(Rule(1, "trader", {"kinds": "open,flip", "min_usd": "50000"}), change, {}) is not None
    assert evaluate(Rule(1, "trader", {"kinds": "open"}), change, {}) is None
    assert evaluate(Rule(1, "trader", {"address": "0x" + "cd" * 20}), change, {}) is None


def test_validate_refuses_what_is_wrong() -> None:
    assert validate("funding", {"op": "above", "level": "0.5", "exchange": ""}) == {"op": "above",
                                                                                    "level": "0.5"}
    for kind, params in [("nope", {}), ("funding", {"op": "above"}), ("funding", {"op": "up", "level": "1"}),
                         ("price", {"op": "above", "level": "x"}), ("liquidation", {"min_usd": "NaN"}),
                         ("spike", {"min_z": "3", "colour": "red"})]:
        with pytest.raises(ValueError):
            validate(kind, params)


def test_a_disabled_rule_never_fires() -> None:
    rule = Rule(1, "funding", {"op": "above", "level": "0"}, enabled=False)
    assert evaluate(rule, funding("1"), {}) is None


def test_every_kind_has_its_parameters_and_its_check() -> None:
    assert set(KINDS) | {SILENT} == set(PARAMS)  # feed_silent is checked on a timer (rules_silence.py)


def test_cross_venue_funding_spread_over_a_level() -> None:
    rule = Rule(3, "funding_spread", {"level": "0.2", "max_age_s": "60"})
    memory: Memory = {}

    def at(exchange: str, annualized: str, ts: int) -> FundingRate:
        return msgspec.structs.replace(funding(annualized, exchange), ts=ts)

    assert evaluate(rule, at("binance", "0.10", 1_000_000), memory) is None  # one venue: no spread
    assert evaluate(rule, at("okx", "0.30", 2_000_000), memory) is None  # 0.20 is not over 0.2
    fire = evaluate(rule, at("bybit", "0.3000001", 3_000_000), memory)
    assert fire is not None and "bybit" in fire.title and "binance" in fire.title
    # a minute later binance's rate is too old to count
    assert evaluate(rule, at("bybit", "0.35", 62_000_000), memory) is None


def hedge(required: str, held: str, pool: str = "jlp") -> HedgeStatus:
    drift = D(held) - D(required)
    pct = (drift / D(required) * 100).quantize(D("0.0001")) if D(required) else None
    return HedgeStatus(ts=1, recv_ts=1, pool=pool, asset="SOL", required=D(required), hedge=D(held),
                       drift=drift, drift_pct=pct)


def test_hedge_drift_over_a_percentage_is_exact() -> None:
    rule = Rule(1, "hedge_drift", {"pct": "5"})
    assert evaluate(rule, hedge("100", "95"), {}) is None  # 5 % is not over 5 %
    under = evaluate(rule, hedge("100", "94.99999999"), {})
    assert under is not None and "under-hedged" in under.title
    # drift_pct rounds 5.000000001 % to 5.0000; the rule compares the drift itself
    assert evaluate(rule, hedge("100", "105.000000001"), {}) is not None
    assert evaluate(rule, hedge("0", "1"), {}) is not None  # a short where none is required
    assert evaluate(rule, hedge("0", "0"), {}) is None
    only_over = Rule(2, "hedge_drift", {"pct": "1", "direction": "over", "pool": "jlp"})
    assert evaluate(only_over, hedge("100", "90"), {}) is None
    assert evaluate(only_over, hedge("100", "110", pool="alp"), {}) is None
    assert evaluate(only_over, hedge("100", "110"), {}) is not None


def lag(stream: str, lag_entries: int, cap: int = 200_000, group: str = "processor") -> StreamLag:
    return StreamLag(ts=1, recv_ts=1, stream=stream, group=group, lag=lag_entries, cap=cap)


def test_stream_lag_over_a_share_of_its_cap() -> None:
    rule = Rule(1, "stream_lag", {"share": "0.5", "stream": "trades"})
    assert evaluate(rule, lag("th:{trades}", 100_000), {}) is None  # half is not over half
    fire = evaluate(rule, lag("th:{trades:3.1}", 100_001), {})  # a family names all its partitions
    assert fire is not None and "th:trades:3" in fire.title
    assert evaluate(rule, lag("th:{funding}", 199_999), {}) is None
    one_group = Rule(2, "stream_lag", {"share": "0.25", "stream": "th:funding", "group": "rules"})
    assert evaluate(one_group, lag("th:{funding}", 50_001), {}) is None
    assert evaluate(one_group, lag("th:{funding}", 50_001, group="rules"), {}) is not None
    by_key = Rule(3, "stream_lag", {"share": "0.5", "stream": "th:{trades:3.1}"})  # the key itself
    assert evaluate(by_key, lag("th:{trades:3.1}", 100_001), {}) is not None
    assert evaluate(by_key, lag("th:{trades:2}", 100_001), {}) is None


def test_feed_silent_by_venue_or_symbol_and_exact() -> None:
    by_venue = Rule(1, "feed_silent", {"silent_s": "30", "exchange": "bybit"})
    by_symbol = Rule(2, "feed_silent", {"silent_s": "0.5", "symbol": "ETH-USDT-PERP", "family": "funding"})
    events = [trade_at(10_000_000, "BTC-USDT-PERP"), trade_at(20_000_000, "ETH-USDT-PERP"),
              mark("1", 15_000_000)]
    seen = latest_seen([by_venue, by_symbol], events)
    assert seen == {"1|bybit|": 20_000_000, "2|bybit|ETH-USDT-PERP": 15_000_000}
    assert silences([by_venue, by_symbol], seen, 15_500_000) == []  # 0.5 s is not over 0.5 s
    found = silences([by_venue, by_symbol], seen, 50_000_001)
    assert [(s.rule.id, s.since) for s in found] == [(1, 20_000_000), (2, 15_000_000)]
    assert "bybit funding" not in found[0].fire.title and "ETH-USDT-PERP funding" in found[1].fire.title
    assert silences([by_symbol], seen, 50_000_001)[0].rule.id == 2  # a removed rule's field is ignored


def trade_at(ts: int, symbol: str) -> Trade:
    return Trade(ts=ts, recv_ts=ts, exchange="bybit", symbol=symbol, raw_symbol=symbol, trade_id=str(ts),
                 price=D(1), size=D(1), side="buy")


def test_new_kinds_validate_their_parameters() -> None:
    assert validate("stream_lag", {"share": "0.5"}) == {"share": "0.5"}
    for kind, params in [("feed_silent", {"silent_s": "0"}),
                         ("feed_silent", {"silent_s": "5", "family": "oi"}),
                         ("stream_lag", {"share": "-1"}), ("hedge_drift", {"pct": "5", "direction": "up"}),
                         ("hedge_drift", {})]:
        with pytest.raises(ValueError):
            validate(kind, params)
