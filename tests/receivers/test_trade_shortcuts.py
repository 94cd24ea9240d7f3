"""The trade loops' shortcuts decide as the careful way does: a field no code reads refuses no trade,
the range test without Decimal comparisons accepts and refuses what finite() does, OKX's product and
Deribit's quotient are multiply()'s and divide()'s to the last digit, and a refused symbol is not kept."""
from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from services.receivers.exchanges.binance import market as binance
from services.receivers.exchanges.bybit import market as bybit
from services.receivers.exchanges.deribit import market as deribit
from services.receivers.exchanges.hyperliquid import market as hyperliquid
from services.receivers.exchanges.okx import market as okx
from services.receivers.frames import FrameError, SymbolTable, divide, finite, multiply
from shared.events import AnyEvent
from tests.fixtures import frame
from tests.receivers.frame_checks import RECV_TS

Parse = Callable[[bytes, int], list[AnyEvent]]
MALFORMED = {"not": ["what", "the", "venue", "sends"]}


def wire(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def deribit_doc() -> dict[str, Any]:
    doc = json.loads(frame("deribit", "trades"))
    return {"jsonrpc": "2.0", "method": "subscription",
            "params": {"channel": "trades.BTC-PERPETUAL.100ms", "data": doc["params"]["data"]}}


def first_trade(doc: dict[str, Any]) -> dict[str, Any]:
    """The (first) trade of a frame, whichever venue's shape."""
    data = doc["params"]["data"] if "params" in doc else doc["data"]
    trade: dict[str, Any] = data[0] if isinstance(data, list) else data
    return trade


# venue parse, its trades frame, the fields of the frame and of its trade that no code reads
UNREAD: list[tuple[Parse, dict[str, Any], list[str], list[str]]] = [
    (binance.parse_frame, json.loads(frame("binance", "aggTrade")), ["stream"], ["E", "f", "l", "nq"]),
    (binance.parse_frame_spot, json.loads(frame("binance_spot", "trade")), ["stream"], ["E", "M"]),
    (bybit.parse_frame_linear, json.loads(frame("bybit", "publicTrade")), ["type", "ts"], ["L", "BT", "seq"]),
    (bybit.parse_frame_spot, json.loads(frame("bybit", "publicTrade")), ["type", "ts"], ["L", "BT", "seq"]),
    (okx.parse_frame, json.loads(frame("okx", "trades")), [], ["count", "source", "seqId"]),
    (hyperliquid.parse_frame, json.loads(frame("hyperliquid", "trades")), [], ["hash"]),
    (deribit.parse_frame, deribit_doc(), [], ["liquidation", "tick_direction", "mark_price"]),
]


@pytest.mark.parametrize("parse, doc, frame_fields, trade_fields", UNREAD)
def test_a_malformed_field_no_code_reads_refuses_no_trade(
        parse: Parse, doc: dict[str, Any], frame_fields: list[str], trade_fields: list[str]) -> None:
    expected = parse(wire(doc), RECV_TS)
    assert expected
    for field in frame_fields:
        assert parse(wire({**doc, field: MALFORMED}), RECV_TS) == expected, field
        assert parse(wire({key: value for key, value in doc.items() if key != field}), RECV_TS) == expected
    for field in trade_fields:
        broken = json.loads(wire(doc))
        first_trade(broken)[field] = MALFORMED
        assert parse(wire(broken), RECV_TS) == expected, field


def test_a_malformed_field_the_trade_reads_still_refuses_it() -> None:
    doc = json.loads(frame("binance", "aggTrade"))
    for field in ("s", "a", "p", "q", "T", "m"):
        broken = json.loads(wire(doc))
        broken["data"][field] = MALFORMED
        with pytest.raises(FrameError):
            binance.parse_frame(wire(broken), RECV_TS)


EDGES = ["0E+40", "-0E+40", "0E-40", "9.999999999999999999999999999E+29",
         "-9.999999999999999999999999999E+29", "1E+30", "-1E+30",
         "1.0E+31", "1E-40", "-5", "NaN", "-NaN", "sNaN", "Infinity", "-Infinity"]


def finite_says(text: str) -> bool:
    try:
        finite(Decimal(text), "x")
    except FrameError:
        return False
    return True


@pytest.mark.parametrize("text", EDGES)
@pytest.mark.parametrize("field", ["p", "v"])
def test_the_range_test_accepts_and_refuses_what_finite_does(text: str, field: str) -> None:
    doc = json.loads(frame("bybit", "publicTrade"))
    doc["data"][0][field] = text
    if finite_says(text):
        [trade] = bybit.parse_frame_spot(wire(doc), RECV_TS)
        assert str(trade.price if field == "p" else trade.size) == str(Decimal(text))  # type: ignore[union-attr]
    else:
        with pytest.raises(FrameError):
            bybit.parse_frame_spot(wire(doc), RECV_TS)


FIGURES = ["355", "1", "0.1", "0.12060306", "7940", "10", "0.00000001", "123456789.123456789",
           "1234567890123456789012345678", "0.000000000000000000001", "1E+5", "5E-19", "0",
           "0.0000000000000000000000"]


@pytest.mark.parametrize("ct_val", ["0.01", "0.1", "1", "1000000", "0.0000001", "3.3333333333333333"])
def test_okx_base_size_is_multiplys(ct_val: str) -> None:
    doc = json.loads(frame("okx", "trades").replace(b'"BTC-USDT"', b'"BTC-USDT-SWAP"'))
    value = Decimal(ct_val)
    for sz in FIGURES:
        first_trade(doc)["sz"] = sz
        try:
            want = str(multiply(Decimal(sz), value, "base size"))
        except FrameError:
            want = "refused"
        try:
            [trade] = okx.parse_frame(wire(doc), RECV_TS, {"BTC-USDT-SWAP": value})
            got = str(trade.size)  # type: ignore[union-attr]
        except FrameError:
            got = "refused"
        assert got == want, (sz, ct_val)


@pytest.mark.parametrize("price", ["61579.7", "8950", "0.5", "3", "0.00001", "1E-20", "7", "0", "1E+29"])
def test_deribit_inverse_size_is_divides(price: str) -> None:
    doc = deribit_doc()
    for amount in ["10", "7940", "3", "1E+29", "0", "123456789012", "0.5"]:
        first_trade(doc).update(price=json.loads(price), amount=json.loads(amount))
        raw = wire(doc).replace(f'"price":{json.loads(price)!r}'.encode(), f'"price":{price}'.encode())
        try:
            want = str(divide(Decimal(amount), Decimal(price), "size"))
        except FrameError:
            want = "refused"
        try:
            [trade] = deribit.parse_frame(raw, RECV_TS)
            got = str(trade.size)  # type: ignore[union-attr]
        except FrameError:
            got = "refused"
        assert got == want, (amount, price)


def test_a_symbol_table_keeps_what_it_worked_out_and_not_what_it_refused() -> None:
    asked: list[str] = []

    def of(raw_symbol: str) -> str:
        asked.append(raw_symbol)
        if raw_symbol == "BAD":
            raise FrameError("refused")
        return raw_symbol.lower()

    table = SymbolTable(of)
    assert (table["BTC"], table["BTC"]) == ("btc", "btc")
    for _ in range(2):
        with pytest.raises(FrameError):
            table["BAD"]
    assert asked == ["BTC", "BAD", "BAD"] and dict(table) == {"BTC": "btc"}
