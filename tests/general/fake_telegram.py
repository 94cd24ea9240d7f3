"""A stand-in for the Telegram Bot API on loopback: records every request with the time it
arrived (time.monotonic), answers like Telegram, and can be scripted to fail."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    at: float  # time.monotonic() when the request arrived
    method: str
    token: str
    body: dict[str, Any]
    status: int


@dataclass
class FakeTelegram:
    """Scripted answers first (status, body), then `down` (502 without a Bot API body), else success."""

    requests: list[Recorded] = field(default_factory=list)
    script: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)
    down: bool = False
    updates: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        method, token = request.match_info["method"], request.match_info["token"]
        status, answer = self._answer(method, body)
        self.requests.append(Recorded(time.monotonic(), method, token, body, status))
        if answer is None:
            return web.Response(status=status, text="<html>Bad Gateway</html>")
        return web.json_response(answer, status=status)

    def _answer(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        if self.script:
            return self.script.popleft()
        if self.down:
            return 502, None
        if method == "getUpdates":
            offset = int(body.get("offset") or 0)
            return 200, {"ok": True, "result": [u for u in self.updates if u["update_id"] >= offset]}
        return 200, {"ok": True, "result": {"message_id": len(self.requests) + 1,
                                            "chat": {"id": body.get("chat_id")}, "text": body.get("text")}}

    def sent(self, chat: str | None = None) -> list[Recorded]:
        """Messages Telegram accepted (to one chat, or all)."""
        return [r for r in self.requests if r.method == "sendMessage" and r.status == 200
                and (chat is None or str(r.body["chat_id"]) == chat)]


def too_many_requests(retry_after: int) -> tuple[int, dict[str, Any]]:
    """Telegram's flood-control answer (https://core.telegram.org/bots/api#responseparameters)."""
    return 429, {"ok": False, "error_code": 429,
                 "description": f"Too Many Requests: retry after {retry_after}",
                 "parameters": {"retry_after": retry_after}}
