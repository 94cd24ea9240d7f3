"""A trades frame that starts the way its venue starts one is decoded in one pass; any other frame
takes the venue's general way. Both ways give the same events, and what is not a trades frame
after all (an ack, an error, a channel of another shape) is still told apart."""
from __future__ import annotations

import json
from typing import Any

import pytest

from services.receivers.exchanges.bybit import market as bybit
from services.receivers.exchanges.deribit import market as deribit
from services.receivers.exchanges.hyperliquid import market as hyperliquid
from services.receivers.exchanges.okx import market as okx
from services.receivers.frames import FrameError
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS


def wire(doc: dict[str, Any]) -> bytes:
    """The compact JSON the venues send, keys in the order given."""
    return json.dumps(doc, separators=(",", ":")).encode()


def reversed_keys(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(reversed(doc.items()))


def okx_trades() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(frame("okx", "trades").replace(b'"BTC-USDT"', b'"BTC-USDT-SWAP"'))
    return doc


def deribit_trades(channel: str = "trades.BTC-PERPETUAL.100ms") -> dict[str, Any]:
    """jsonrpc, method, params: the order Deribit sends (the fixture, from the docs, has another)."""
    doc = json.loads(frame("deribit", "trades"))
    return {"jsonrpc": "2.0", "method": "subscription",
            "params": {"channel": channel, "data": doc["params"]["data"]}}


def test_okx_one_decode_matches_the_general_way() -> None:
    doc = okx_trades()
    fast, general = wire(doc), wire(reversed_keys(doc))
    assert fast.startswith(okx.TRADES_START) and not general.startswith(okx.TRADES_START)
    events = okx.parse_frame(fast, RECV_TS)
    assert len(events) == 1 and events == okx.parse_frame(general, RECV_TS) == okx.parse_trades(fast, RECV_TS)


def test_okx_trades_arg_with_an_event_is_not_data() -> None:
    arg = {"channel": "trades", "instId": "BTC-USDT-SWAP"}
    assert okx.parse_frame(wire({"arg": arg, "event": "subscribe", "connId": "a4d3ae55"}), RECV_TS) == []
    error = {**okx_trades(), "event": "error", "code": "60012", "msg": "Invalid request"}
    with pytest.raises(FrameError, match="okx error 60012"):
        okx.parse_frame(wire(error), RECV_TS)


def test_deribit_one_decode_matches_the_general_way() -> None:
    doc = deribit_trades()
    fast, general = wire(doc), wire(reversed_keys(doc))
    assert fast.startswith(deribit.TRADES_START) and not general.startswith(deribit.TRADES_START)
    events = deribit.parse_frame(fast, RECV_TS)
    assert len(events) == 1 and events == deribit.parse_frame(general, RECV_TS)
    assert events == deribit.parse_trades(frame("deribit", "trades"), RECV_TS)


def test_deribit_trades_channel_of_another_shape_is_routed_as_before() -> None:
    with pytest.raises(FrameError, match="unhandled channel"):
        deribit.parse_frame(wire(deribit_trades("trades.BTC-PERPETUAL.100ms.x")), RECV_TS)
    short = deribit.parse_frame(wire(deribit_trades("trades.BTC-PERPETUAL")), RECV_TS)
    assert short == deribit.parse_frame(wire(deribit_trades()), RECV_TS)


@pytest.mark.parametrize("parse", [bybit.parse_frame_linear, bybit.parse_frame_spot])
def test_bybit_one_decode_matches_the_general_way(parse: Any) -> None:
    doc = json.loads(frame("bybit", "publicTrade"))
    fast, general = wire(doc), wire(reversed_keys(doc))
    assert fast.startswith(bybit.TRADES_START) and not general.startswith(bybit.TRADES_START)
    events = parse(fast, RECV_TS)
    assert len(events) == 1 and events == parse(general, RECV_TS)


def test_bybit_publictrade_without_data_is_refused_as_before() -> None:
    with pytest.raises(FrameError):
        bybit.parse_frame_linear(wire({"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1}), RECV_TS)


def test_hyperliquid_one_decode_matches_the_general_way() -> None:
    doc = json.loads(frame("hyperliquid", "trades"))
    fast, general = wire(doc), wire(reversed_keys(doc))
    assert fast.startswith(hyperliquid.TRADES_START)
    assert not general.startswith(hyperliquid.TRADES_START)
    events = hyperliquid.parse_frame(fast, RECV_TS)
    assert len(events) == 2 and events == hyperliquid.parse_frame(general, RECV_TS)
    with pytest.raises(FrameError):
        hyperliquid.parse_frame(wire({"channel": "trades", "data": "oops"}), RECV_TS)
