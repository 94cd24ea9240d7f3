"""The simulated venues' REST trade history: the very trades their websockets made, so a backfill
can be checked exactly (a frame dropped by the `drop` mode is still in the venue's history, as a
frame a real venue failed to push is).

A bounded ring of the newest HISTORY_TRADES trades per venue and symbol, recorded where the venue's
trade frame is built (services/simulator/<venue>.py), keyed by the trade's id (Binance, OKX), its
trade_seq (Deribit) or its matching seq (Bybit), served in the venue's REST shape:
  GET /binance/fapi/v1/aggTrades?symbol=&fromId=|startTime=&endTime=&limit=
      https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Compressed-Aggregate-Trades-List
  GET /binance_spot/api/v3/historicalTrades?symbol=&fromId=&limit=
      https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#old-trade-lookup
  GET /okx/api/v5/market/history-trades?instId=&type=1&after=&before=&limit= (newest first, 100 at most)
      https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-trades-history
  GET /deribit/api/v2/public/get_last_trades_by_instrument?instrument_name=&start_seq=&end_seq=&count=
      https://docs.deribit.com/api-reference/market-data/public-get_last_trades_by_instrument
  GET /bybit/v5/market/recent-trade?category=linear|spot&symbol=&limit= (the newest only: 1000, spot 60)
      https://bybit-exchange.github.io/docs/v5/market/recent-trade
A fromId older than the ring answers from its oldest trade: the venue's history ends there.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from aiohttp import web

from services.simulator.rest_venues import REST_SIM, RestSim, _venue

HISTORY_TRADES = 20_000  # per venue and symbol: minutes of trades at the demo's rates
DEFAULT_LIMIT, MAX_LIMIT = 500, 1000  # Binance: "Default 500; max 1000"; Deribit and Bybit linear: 1000
OKX_LIMIT, BYBIT_SPOT_LIMIT = 100, 60
Row = dict[str, Any]


class TradeRing:
    """One venue's newest trades per symbol, each as its REST row, ids ascending."""

    def __init__(self, size: int = HISTORY_TRADES) -> None:
        self.size = size
        self.rows: dict[str, deque[tuple[int, int, Row]]] = {}  # symbol -> (id, ms, row)

    def record(self, symbol: str, trade_id: int, ms: int, row: Row) -> None:
        ring = self.rows.get(symbol)
        if ring is None:
            ring = self.rows[symbol] = deque(maxlen=self.size)
        ring.append((trade_id, ms, row))

    def ids(self, symbol: str) -> list[int]:
        return [trade_id for trade_id, _, _ in self.rows.get(symbol, ())]

    def from_id(self, symbol: str, from_id: int, limit: int) -> list[Row]:
        ring = self.rows.get(symbol)
        if not ring:
            return []
        start = max(0, from_id - ring[0][0])  # ids of one symbol are consecutive
        return [row for _, _, row in islice(ring, start, start + limit)]

    def window(self, symbol: str, above: int, below: int, limit: int) -> list[Row]:
        """Ids strictly between above and below, newest first, at most `limit` (OKX's after/before)."""
        ring = self.rows.get(symbol, deque())
        rows = (row for trade_id, _, row in reversed(ring) if above < trade_id < below)
        return list(islice(rows, limit))

    def between(self, symbol: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[Row]:
        """From startTime (inclusive) to endTime; the newest `limit` when neither is given."""
        ring = self.rows.get(symbol, deque())
        if start_ms is None and end_ms is None:
            return [row for _, _, row in list(ring)[-limit:]]
        rows: Iterator[Row] = (row for _, ms, row in ring
                               if (start_ms is None or ms >= start_ms) and (end_ms is None or ms <= end_ms))
        return list(islice(rows, limit))


RINGS = web.AppKey("trade_rings", dict[str, TradeRing])  # venue -> its ring


def _int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not raw.lstrip("-").isdigit():
        error = f'{{"code":-1100,"msg":"Illegal characters found in parameter \'{name}\'."}}'
        raise web.HTTPBadRequest(text=error, content_type="application/json")
    return int(raw)


def _answer(venue: str) -> Callable[[web.Request, RestSim], Any]:
    async def answer(request: web.Request, sim: RestSim) -> Any:
        ring = request.app[RINGS][venue]
        symbol = request.query.get("symbol", "")
        limit = min(_int(request, "limit") or DEFAULT_LIMIT, MAX_LIMIT)
        from_id = _int(request, "fromId")
        if from_id is not None:
            return ring.from_id(symbol, from_id, limit)
        return ring.between(symbol, _int(request, "startTime"), _int(request, "endTime"), limit)

    return answer


def _okx(request: web.Request, sim: RestSim) -> Any:
    """history-trades, type 1: {"code":"0","msg":"","data":[rows newest first]}."""
    ring = request.app[RINGS]["okx"]
    after, before = _int(request, "after"), _int(request, "before")
    limit = min(_int(request, "limit") or OKX_LIMIT, OKX_LIMIT)
    rows = ring.window(request.query.get("instId", ""), -1 if before is None else before,
                       2**63 if after is None else after, limit)
    return {"code": "0", "msg": "", "data": rows}


def _deribit(request: web.Request, sim: RestSim) -> Any:
    """get_last_trades_by_instrument by sequence, ascending: {"result":{"trades":[..],"has_more":..}}."""
    ring = request.app[RINGS]["deribit"]
    symbol = request.query.get("instrument_name", "")
    start, end = _int(request, "start_seq") or 0, _int(request, "end_seq")
    count = min(_int(request, "count") or 10, MAX_LIMIT)
    rows = [row for row in ring.from_id(symbol, start, count + 1) if end is None or row["trade_seq"] <= end]
    result = {"trades": rows[:count], "has_more": len(rows) > count}
    return {"jsonrpc": "2.0", "result": result, "usIn": 0, "usOut": 0, "usDiff": 0, "testnet": True}


def _bybit(request: web.Request, sim: RestSim) -> Any:
    """recent-trade: the newest `limit` (linear at most 1000, spot 60), newest first."""
    category = request.query.get("category", "linear")
    most = BYBIT_SPOT_LIMIT if category == "spot" else MAX_LIMIT
    ring = request.app[RINGS]["bybit_spot" if category == "spot" else "bybit"]
    limit = min(_int(request, "limit") or (BYBIT_SPOT_LIMIT if category == "spot" else 500), most)
    rows = ring.between(request.query.get("symbol", ""), None, None, limit)[::-1]
    return {"retCode": 0, "retMsg": "OK", "result": {"category": category, "list": rows}, "retExtInfo": {},
            "time": time.time_ns() // 1_000_000}


def _sync(answer: Callable[[web.Request, RestSim], Any]) -> Callable[[web.Request, RestSim], Any]:
    async def answer_async(request: web.Request, sim: RestSim) -> Any:
        return answer(request, sim)

    return answer_async


def add_history(app: web.Application, rings: dict[str, TradeRing]) -> None:
    """The history routes of the venues that keep one (after add_rest_venues: they count as REST)."""
    assert REST_SIM in app, "add_rest_venues first"
    app[RINGS] = rings
    app.router.add_get("/{venue:binance}/fapi/v1/aggTrades", _venue("binance", _answer("binance")))
    app.router.add_get("/{venue:binance_spot}/api/v3/historicalTrades",
                       _venue("binance_spot", _answer("binance_spot")))
    app.router.add_get("/{venue:okx}/api/v5/market/history-trades", _venue("okx", _sync(_okx)))
    # a static path: the private side's /deribit/api/v2/{access}/{method} must not take it
    app.router.add_get("/deribit/api/v2/public/get_last_trades_by_instrument",
                       _venue("deribit", _sync(_deribit)))
    app.router.add_get("/{venue:bybit}/v5/market/recent-trade", _venue("bybit", _sync(_bybit)))
