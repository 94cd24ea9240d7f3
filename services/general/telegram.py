"""Telegram Bot API client: sendMessage paced within Telegram's limits, retries that honour
`retry_after`, and getUpdates for /status.

The token is part of every request URL, so URLs and aiohttp errors are never logged as
they are: every error text leaving this module goes through `redact` first.

Limits, from the Bot FAQ "My bot is hitting limits, how do I avoid this?"
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this):
no more than one message a second in a chat, about 30 messages a second overall, and
no more than 20 messages a minute to the same group. A 429 answer carries
`parameters.retry_after`, the seconds to wait (https://core.telegram.org/bots/api#responseparameters).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from shared import metrics
from shared.backoff import Backoff
from shared.breaker import SinkUnavailable
from shared.settings import TelegramSettings

log = logging.getLogger(__name__)
MAX_TEXT = 4096  # sendMessage: 1-4096 characters after entities parsing


class TelegramRefused(Exception):
    """Telegram answered and refused this request for good (bad chat id, bot blocked, bad text)."""

    def __init__(self, method: str, code: int, description: str) -> None:
        super().__init__(f"telegram {method} refused: {code} {description}")
        self.code = code


@dataclass(frozen=True)
class _Outcome:
    """One request's result, or the error that makes it worth another try."""

    result: Any = None
    error: str | None = None
    retry_after_s: float = 0.0


def is_group(chat: str) -> bool:
    """Groups, supergroups and channels have negative ids (or an @username)."""
    return chat.startswith("-") or chat.startswith("@")


class Pacer:
    """Waits until one more message to `chat` fits every limit: per chat, per group, overall,
    and any flood wait Telegram imposed with a 429."""

    def __init__(self, chat_interval_s: float, global_per_s: int, group_per_min: int,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.chat_interval_s = chat_interval_s
        self.global_per_s = global_per_s
        self.group_per_min = group_per_min
        self._clock = clock
        self._sleep = sleep
        self._chat_last: dict[str, float] = {}
        self._sent: deque[float] = deque()  # send times of the last second, all chats
        self._group_sent: dict[str, deque[float]] = {}  # send times of the last minute, per group
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()

    def block(self, seconds: float) -> None:
        """Telegram said wait: nothing is sent to any chat before then."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def delay(self, chat: str, now: float) -> float:
        """Seconds to wait before a message to `chat` may go (0 = now)."""
        while self._sent and now - self._sent[0] >= 1.0:
            self._sent.popleft()
        waits = [self._blocked_until - now]
        if chat in self._chat_last:
            waits.append(self._chat_last[chat] + self.chat_interval_s - now)
        if len(self._sent) >= self.global_per_s:
            waits.append(self._sent[-self.global_per_s] + 1.0 - now)
        group = self._group_sent.get(chat)
        if group is not None:
            while group and now - group[0] >= 60.0:
                group.popleft()
            if len(group) >= self.group_per_min:
                waits.append(group[-self.group_per_min] + 60.0 - now)
        return max(0.0, *waits)

    async def acquire(self, chat: str) -> None:
        """Return when a message to `chat` may be sent, and count it as sent."""
        async with self._lock:
            while (wait := self.delay(chat, self._clock())) > 0:
                await self._sleep(wait)
            now = self._clock()
            self._chat_last[chat] = now
            self._sent.append(now)
            if is_group(chat):
                self._group_sent.setdefault(chat, deque()).append(now)


class TelegramBot:
    """The few Bot API methods tradehub uses; SinkUnavailable when Telegram cannot be reached."""

    def __init__(self, session: aiohttp.ClientSession, settings: TelegramSettings,
                 pacer: Pacer | None = None) -> None:
        self.session = session
        self.settings = settings
        self._token = settings.token
        self._base = f"{settings.api_url.rstrip('/')}/bot{settings.token}/"
        self.pacer = pacer or Pacer(settings.chat_interval_s, settings.global_per_s,
                                    settings.group_per_min)

    def redact(self, text: str) -> str:
        """The text with the token masked: for anything that may end up in a log or an exception."""
        return text.replace(self._token, "<token>") if self._token else text

    async def send_message(self, chat: str, text: str) -> None:
        """Send plain text to one chat, paced; retries 429 (after retry_after), 5xx and network errors."""
        payload = {"chat_id": chat, "text": text[:MAX_TEXT], "disable_web_page_preview": True}
        await self.call("sendMessage", payload, chat=chat)

    async def get_updates(self, offset: int | None, timeout_s: int) -> list[dict[str, Any]]:
        """Long-poll for new messages (for /status); [] when none arrived within timeout_s."""
        payload: dict[str, Any] = {"timeout": timeout_s, "allowed_updates": ["message"]}
        if offset is not None:
            payload["offset"] = offset
        http_timeout_s = timeout_s + self.settings.timeout_s
        result = await self.call("getUpdates", payload, http_timeout_s=http_timeout_s)
        return result if isinstance(result, list) else []

    async def call(self, method: str, payload: dict[str, Any], chat: str | None = None,
                   http_timeout_s: float | None = None) -> Any:
        """One Bot API method with retries; returns `result`, raises SinkUnavailable or TelegramRefused."""
        backoff = Backoff(base=0.5, cap=10.0)
        timeout = aiohttp.ClientTimeout(total=http_timeout_s or self.settings.timeout_s)
        attempt = 0
        while True:
            if chat is not None:
                await self.pacer.acquire(chat)
            outcome = await self._attempt(method, payload, timeout)
            if outcome.error is None:
                return outcome.result
            if outcome.retry_after_s:
                self.pacer.block(outcome.retry_after_s)  # honoured by every later send, retried or not
            attempt += 1
            if attempt > self.settings.max_retries:
                metrics.TELEGRAM_REQUESTS.labels(method, "gave_up").inc()
                raise SinkUnavailable(f"telegram {method}: {outcome.error}")
            if not outcome.retry_after_s:
                await asyncio.sleep(backoff.next_delay())
            elif chat is None:  # sendMessage waits in the pacer; other methods here
                await asyncio.sleep(outcome.retry_after_s)

    async def _attempt(self, method: str, payload: dict[str, Any],
                       timeout: aiohttp.ClientTimeout) -> _Outcome:
        """One request: its result, or why it is worth retrying; raises TelegramRefused when refused."""
        try:
            async with self.session.post(self._base + method, json=payload, timeout=timeout) as resp:
                status = resp.status
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            metrics.TELEGRAM_REQUESTS.labels(method, "unreachable").inc()
            error = f"{type(exc).__name__}: {self.redact(str(exc))}"
            log.warning("telegram unreachable", extra={"method": method, "error": error})
            return _Outcome(error=error)
        if not isinstance(body, dict):
            metrics.TELEGRAM_REQUESTS.labels(method, "bad_response").inc()
            return _Outcome(error=f"HTTP {status}: not a Bot API answer")
        if body.get("ok"):
            metrics.TELEGRAM_REQUESTS.labels(method, "ok").inc()
            return _Outcome(result=body.get("result"))
        code = int(body.get("error_code") or status)
        description = self.redact(str(body.get("description", "")))[:300]
        if code == 429:
            retry_after = float((body.get("parameters") or {}).get("retry_after") or 1)
            metrics.TELEGRAM_REQUESTS.labels(method, "flood_wait").inc()
            log.warning("telegram flood control: waiting",
                        extra={"method": method, "retry_after_s": retry_after})
            return _Outcome(error=f"429 {description}", retry_after_s=retry_after)
        if code >= 500 or code in (401, 404):  # server trouble, or a wrong token/url: nothing we can send now
            metrics.TELEGRAM_REQUESTS.labels(method, "unavailable").inc()
            log.warning("telegram unavailable",
                        extra={"method": method, "code": code, "description": description})
            return _Outcome(error=f"{code} {description}")
        metrics.TELEGRAM_REQUESTS.labels(method, "refused").inc()
        raise TelegramRefused(method, code, description)
