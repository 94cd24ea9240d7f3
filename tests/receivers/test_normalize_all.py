"""normalize --exchange NAME for every feed name, on that venue's websocket fixtures: every data
frame becomes events printed as JSON with their kind; acks, pongs and heartbeats print nothing;
a venue's notice of a coming disconnect prints nothing and is said on stderr."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from services.receivers.exchanges import FEEDS
from tests.fixtures import frame

# feed name -> (fixture folder, websocket fixtures, the kinds they must print)
CASES = {
    "binance": (
        "binance",
        [
            "aggTrade",
            "kline_1m",
            "markPrice",
            "forceOrder",
            "markPrice_arr",
            "forceOrder_arr",
            "subscribe_ack",
            "serverShutdown",
        ],
        {"trade", "candle", "markprice", "fundingrate", "liquidation"},
    ),
    "binance_spot": ("binance_spot", ["trade"], {"trade"}),
    "bybit": (
        "bybit",
        [
            "publicTrade",
            "kline",
            "tickers_snapshot",
            "tickers_delta",
            "allLiquidation",
            "subscribe",
            "pong_linear",
        ],
        {"trade", "candle", "fundingrate", "markprice", "openinterest", "liquidation"},
    ),
    "bybit_spot": (
        "bybit",
        ["publicTrade", "kline", "tickers_spot", "pong_spot"],
        {"trade", "candle", "spotprice"},
    ),
    "okx": (
        "okx",
        ["trades", "funding-rate", "open-interest", "subscribe", "notice"],
        {"trade", "fundingrate", "openinterest"},
    ),
    "hyperliquid": (
        "hyperliquid",
        ["trades", "candle", "activeAssetCtx", "allMids", "pong", "subscriptionResponse"],
        {"trade", "candle", "fundingrate", "markprice", "openinterest"},
    ),
    "deribit": (
        "deribit",
        [
            "trades",
            "ticker",
            "chart_trades",
            "heartbeat",
            "heartbeat_test_request",
            "subscribe_result",
            "set_heartbeat_result",
        ],
        {"trade", "candle", "fundingrate", "markprice", "openinterest"},
    ),
}


NOTICES = {
    "binance": "line 8: notice of a coming disconnect: serverShutdown at 1770123456789 ms\n",
    "okx": "line 5: notice of a coming disconnect: okx 64008: The connection will soon be closed for a "
    "service upgrade. Please reconnect.\n",
}


def test_every_registered_feed_has_a_case() -> None:
    assert set(CASES) == set(FEEDS)


@pytest.mark.parametrize("exchange", sorted(CASES))
def test_normalize_prints_every_kind_of_each_exchange(exchange: str) -> None:
    folder, names, kinds = CASES[exchange]
    stdin = "\n".join(frame(folder, name).decode() for name in names) + "\n"
    done = subprocess.run(
        [sys.executable, "-m", "services.receivers", "normalize", "--exchange", exchange],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert {event["kind"] for event in events} == kinds
    assert {event["exchange"] for event in events} == {exchange.removesuffix("_spot")}  # the venue
    assert done.stderr == NOTICES.get(exchange, "")
