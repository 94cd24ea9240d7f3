"""The simulated venues' REST trade history: the very trades their websockets made, so a backfill
can be checked exactly (a frame dropped by the `drop` mode is still in the venue's history, as a
frame a real venue failed to push is).

A bounded ring of the newest HISTORY_TRADES trades per venue and symbol, recorded where the venue's
trade frame is built (services/simulator/binance.py), served in the venue's REST shape:
  GET /binance/fapi/v1/aggTrades?symbol=&fromId=|startTime=&endTime=&limit=
      https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Compressed-Aggregate-Trades-List
  GET /binance_spot/api/v3/historicalTrades?symbol=&fromId=&limit=
      https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#old-trade-lookup
A fromId older than the ring answers from its oldest trade: the venue's history ends there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from aiohttp import web

from services.simulator.rest_venues import REST_SIM, RestSim, _venue

HISTORY_TRADES = 20_000  # per venue and symbol: minutes of trades at the demo's rates
DEFAULT_LIMIT, MAX_LIMIT = 500, 1000  # "Default 500; max 1000" on both endpoints
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


def add_history(app: web.Application, rings: dict[str, TradeRing]) -> None:
    """The history routes of the venues that keep one (after add_rest_venues: they count as REST)."""
    assert REST_SIM in app, "add_rest_venues first"
    app[RINGS] = rings
    app.router.add_get("/{venue:binance}/fapi/v1/aggTrades", _venue("binance", _answer("binance")))
    app.router.add_get("/{venue:binance_spot}/api/v3/historicalTrades",
                       _venue("binance_spot", _answer("binance_spot")))
