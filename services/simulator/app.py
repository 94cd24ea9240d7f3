"""The simulator's web app: exchange websockets and REST on one port, plus /stats
(frames sent) and /control (scripted misbehaviour) for demos and tests."""
from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import WSMsgType, web

from services.simulator.binance import SymbolTape, agg_trade_frame, parse_streams
from shared.config import Settings

log = logging.getLogger(__name__)
TICK_S = 0.02


class SimState:
    """Tapes shared by all connections, the frame counters, and the current behaviour."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tapes: dict[str, SymbolTape] = {}
        self.mode = "normal"  # normal | silence | close | garbage | paused
        self.max_frames: int | None = settings.simulator_max_frames or None  # per symbol
        self.connections = 0

    def tape(self, symbol: str) -> SymbolTape:
        if symbol not in self.tapes:
            self.tapes[symbol] = SymbolTape(symbol, self.settings.simulator_seed)
        return self.tapes[symbol]

    def sent(self) -> dict[str, int]:
        return {symbol: tape.sent for symbol, tape in self.tapes.items()}


STATE = web.AppKey("state", SimState)


async def binance_stream(request: web.Request) -> web.WebSocketResponse:
    """Binance's combined-stream endpoint /stream?streams=a@aggTrade/b@aggTrade."""
    state = request.app[STATE]
    symbols = parse_streams(request.query.get("streams", ""))
    ws = web.WebSocketResponse(heartbeat=None, autoping=True)
    await ws.prepare(request)
    state.connections += 1
    tapes = [state.tape(symbol) for symbol in symbols]
    rate = state.settings.simulator_rate
    started = time.monotonic()
    base = {tape.symbol: tape.sent for tape in tapes}
    reader = asyncio.ensure_future(_drain(ws))
    try:
        while not ws.closed and not reader.done():
            await asyncio.sleep(TICK_S)
            if state.mode == "close":
                await ws.close()
                break
            if state.mode in ("silence", "paused"):
                started, base = time.monotonic(), {tape.symbol: tape.sent for tape in tapes}
                continue
            due = int((time.monotonic() - started) * rate)
            for tape in tapes:
                while tape.sent - base[tape.symbol] < due:
                    if state.max_frames is not None and tape.sent >= state.max_frames:
                        break
                    if state.mode == "garbage":
                        await ws.send_str('{"stream":"btcusdt@aggTrade","data":{"e":"aggTr')
                    await ws.send_str(agg_trade_frame(tape))
                    tape.sent += 1
    except (ConnectionResetError, RuntimeError):
        pass
    finally:
        reader.cancel()
        state.connections -= 1
    return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, so close frames and pings are handled."""
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    sent = state.sent()
    return web.json_response({"sent": sent, "total": sum(sent.values()), "connections": state.connections,
                              "mode": state.mode})


async def control(request: web.Request) -> web.Response:
    """POST /control?mode=normal|silence|close|garbage|paused&max_frames=N"""
    state = request.app[STATE]
    mode = request.query.get("mode", state.mode)
    if mode not in ("normal", "silence", "close", "garbage", "paused"):
        return web.json_response({"error": f"unknown mode {mode!r}"}, status=400)
    state.mode = mode
    if "max_frames" in request.query:
        state.max_frames = int(request.query["max_frames"]) or None
    return web.json_response({"mode": state.mode, "max_frames": state.max_frames})


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[STATE] = SimState(settings)
    app.router.add_get("/stream", binance_stream)
    app.router.add_get("/stats", stats)
    app.router.add_post("/control", control)
    return app
