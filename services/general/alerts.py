"""Alerts to people: the th:alerts consumer sends each Alert (and Spike) to the chats its
severity routes to, once per dedup window, through the paced Telegram client; large
liquidations become alerts; /status answers with the platform's state.

Nothing is acked until Telegram took the message: when it cannot be reached the sink raises
SinkUnavailable, the consumer's breaker opens and the stream keeps the backlog. What was
already sent of a retried batch is skipped by the dedup record, written after each send.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.general.status import status_report
from services.general.telegram import TelegramBot, TelegramRefused
from shared import metrics
from shared.backoff import Backoff, sleep_or_stop, until_stopped
from shared.breaker import SinkUnavailable
from shared.config import Settings
from shared.constants import alert_sent_key
from shared.events import Alert, Event, Liquidation, Spike, now_us
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
ICONS = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}
_CHAT_SPLIT = re.compile(r"[;,\s]+")


def chats_for(settings: Settings, severity: str) -> list[str]:
    """The chats a severity goes to: its own entry in telegram_chats, else the `default` entry."""
    raw = settings.telegram.chats.get(severity, settings.telegram.chats.get("default", ""))
    return [chat for chat in _CHAT_SPLIT.split(raw) if chat]


def all_chats(settings: Settings) -> set[str]:
    """Every configured chat: the only ones /status answers."""
    return {chat for raw in settings.telegram.chats.values() for chat in _CHAT_SPLIT.split(raw) if chat}


def as_alert(event: Event) -> Alert | None:
    """Alerts as they are; a Spike as a warning keyed by what spiked; anything else is not for people."""
    if isinstance(event, Alert):
        return event
    if isinstance(event, Spike):
        return Alert(source="processor", severity="warning",
                     key=f"spike:{event.exchange}:{event.symbol}:{event.metric}:{event.interval}",
                     title=f"{event.metric.upper()} spike {event.exchange} {event.symbol} ({event.interval})",
                     text=f"value {event.value}, mean {event.mean}, z {event.z} "
                          f"(threshold {event.threshold})",
                     ts=event.ts, recv_ts=event.recv_ts)
    return None


def format_alert(alert: Alert) -> str:
    """Plain text (no parse_mode, so nothing needs escaping)."""
    when = datetime.fromtimestamp(alert.ts / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"{ICONS.get(alert.severity, '')} {alert.severity.upper()}: {alert.title}"]
    if alert.text:
        lines.append(alert.text)
    lines.append(f"{alert.source} · {when}")
    return "\n".join(lines)


class SentLog:
    """Per chat and alert key, what was sent last, kept in Redis for the dedup window, so a
    restart or a redelivered batch does not send it again."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.prefix = settings.streams.prefix
        self.window_ms = int(settings.alerts.dedup_s * 1000)

    @staticmethod
    def fingerprint(alert: Alert) -> bytes:
        """Same key, severity and title = a repeat; a recovery (other severity) is news."""
        return f"{alert.severity}|{alert.title}".encode()

    async def seen(self, chat: str, alert: Alert) -> bool:
        try:
            last = await self.redis.get(alert_sent_key(self.prefix, chat, alert.key))
        except (RedisError, OSError) as exc:
            raise SinkUnavailable(f"redis (alert dedup): {exc!r}") from exc
        return last == self.fingerprint(alert)

    async def mark(self, chat: str, alert: Alert) -> None:
        try:
            await self.redis.set(alert_sent_key(self.prefix, chat, alert.key), self.fingerprint(alert),
                                 px=self.window_ms)
        except (RedisError, OSError) as exc:
            raise SinkUnavailable(f"redis (alert dedup): {exc!r}") from exc


class TelegramAlertSink:
    """The th:alerts sink: route, deduplicate, send; raises SinkUnavailable when Telegram is away."""

    def __init__(self, bot: TelegramBot, sent: SentLog, settings: Settings) -> None:
        self.bot = bot
        self.sent = sent
        self.settings = settings

    async def __call__(self, events: Sequence[Event]) -> None:
        for event in events:
            alert = as_alert(event)
            if alert is None:
                continue
            chats = [alert.chat] if alert.chat else chats_for(self.settings, alert.severity)
            if not chats:
                metrics.ALERTS_SUPPRESSED.labels("no_chat").inc()
                log.info("alert without a chat for its severity",
                         extra={"key": alert.key, "severity": alert.severity})
            for chat in chats:
                await self._send(chat, alert)

    async def _send(self, chat: str, alert: Alert) -> None:
        if await self.sent.seen(chat, alert):
            metrics.ALERTS_SUPPRESSED.labels("duplicate").inc()
            return
        try:
            await self.bot.send_message(chat, format_alert(alert))
        except TelegramRefused as exc:  # a bad chat id must not hold every other alert back
            metrics.ALERTS_SUPPRESSED.labels("refused").inc()
            log.error("telegram refused an alert", extra={"chat": chat, "key": alert.key, "error": str(exc)})
            return
        await self.sent.mark(chat, alert)
        metrics.ALERTS_SENT.labels(alert.severity).inc()


class LogAlertSink:
    """Without a Telegram token, alerts are written to the log so they are not lost from sight."""

    async def __call__(self, events: Sequence[Event]) -> None:
        for event in events:
            alert = as_alert(event)
            if alert is not None:
                level = logging.ERROR if alert.severity == "critical" else logging.WARNING
                extra = {"key": alert.key, "severity": alert.severity, "title": alert.title,
                         "text": alert.text, "source": alert.source}
                log.log(level, "alert", extra=extra)


class LiquidationAlerts:
    """A th:liquidations sink: liquidations worth at least `alert_liquidation_usd` become alerts."""

    def __init__(self, producer: StreamProducer, settings: Settings) -> None:
        self.producer = producer
        self.threshold = Decimal(str(settings.alerts.liquidation_usd))

    async def __call__(self, events: Sequence[Event]) -> None:
        raised = 0
        for event in events:
            if isinstance(event, Liquidation) and self.threshold and event.usd_value >= self.threshold:
                whose = "long" if event.side == "sell" else "short"  # the side is the liquidation ORDER's
                self.producer.publish(Alert(
                    source="general", severity="warning",
                    key=f"liquidation:{event.exchange}:{event.symbol}:{event.ts}:{event.side}:{event.price}",
                    title=f"Large {whose} liquidation {event.exchange} {event.symbol}: "
                          f"${event.usd_value:,.0f}",
                    text=f"{event.size} @ {event.price}", ts=event.ts, recv_ts=now_us()))
                raised += 1
        if raised:
            metrics.ALERTS_RAISED.labels("liquidation").inc(raised)
            if not await self.producer.flush():  # ack only once the alerts are in Redis
                raise SinkUnavailable("redis: liquidation alerts not written")


async def answer_status(bot: TelegramBot, redis: aioredis.Redis, settings: Settings,
                        stop: asyncio.Event) -> None:
    """Long-poll getUpdates and answer /status from configured chats; others are ignored."""
    allowed = all_chats(settings)
    offset: int | None = None
    backoff = Backoff(base=1.0, cap=60.0)
    while not stop.is_set():
        try:
            updates = await until_stopped(bot.get_updates(offset, settings.telegram.status_poll_s), stop)
        except (SinkUnavailable, TelegramRefused) as exc:
            log.warning("getUpdates failed", extra={"error": str(exc)})
            await sleep_or_stop(stop, backoff.next_delay())
            continue
        backoff.reset()
        for update in updates or []:
            offset = max(offset or 0, int(update.get("update_id", 0)) + 1)
            message = update.get("message") or {}
            chat = str((message.get("chat") or {}).get("id", ""))
            text = str(message.get("text") or "")
            if not text.startswith("/status") or chat not in allowed:
                continue
            try:
                await bot.send_message(chat, await status_report(redis, settings))
            except (SinkUnavailable, TelegramRefused, RedisError, OSError) as exc:
                log.warning("/status not answered", extra={"chat": chat, "error": str(exc)})

