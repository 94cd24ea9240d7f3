"""One account's private socket: the public feeds' connection (keepalive, idle detection, backoff
with jitter, gap records, status) with a login made anew for every connect, the login kept alive
while connected, and the reconciliation snapshots that make the stored state whole again.

A refused login ends the session as "auth_failed": it is retried with the backoff (capped at
accounts.auth_backoff_max_s, never a tight loop), /ready shows the feed as "auth failed", and one
alert goes out per failing streak. A snapshot taken after a connect closes the outage's gap: from
then on the stored state is the venue's again.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import msgspec
from redis.exceptions import RedisError

from services.receivers.connection import FeedConnection, SessionEnded, Socket, _send
from services.receivers.private import AccountApi, AuthRejected, Link, Login, SessionExpired
from services.receivers.rest import RestError
from services.receivers.venue import Feed, Message
from shared import metrics
from shared.backoff import sleep_or_stop
from shared.events import AccountSnapshot, Alert, AnyEvent, now_us
from shared.settings import AccountSettings
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
LOGIN_SETTLE_S = 1.0  # after a connect, the venue answers the login before the snapshot is taken
FILLS_MARGIN_US = 5_000_000  # fills are asked from a little before the last snapshot: ties and clock skew
Cursor = Callable[[], Awaitable[int | None]]  # the newest stored fill's time (µs), None when none


class AccountConnection(FeedConnection):
    """Keeps one account's private socket connected and its stored state reconciled."""

    def __init__(self, link: Link, api: AccountApi, base_url: str, producer: StreamProducer,
                 settings: AccountSettings, cursor: Cursor, *, streamed: bool = True,
                 resume_from: int | None = None) -> None:
        account = link.account
        self.link, self.api, self.base_url = link, api, base_url
        self.part = settings
        self.cursor = cursor
        self.streamed = streamed  # False: over the venue's per-IP user cap, reconciled by REST only
        self._parse_venue = api.parser(account)
        feed = Feed(name=f"{account.exchange}:account:{account.id}", exchange=account.exchange, url=base_url,
                    parse=self._parse, idle_timeout_s=api.idle_timeout_s, max_age_s=api.max_age_s,
                    ping_message=api.keepalive.message, ping_interval_s=api.keepalive.interval_s,
                    reply=api.keepalive.reply, private=True)
        super().__init__(feed, producer, settings.auth_backoff_max_s, resume_from=resume_from)
        self._login: Login | None = None
        self._connected_now = asyncio.Event()  # a session began: reconcile at once
        self._alerted = False  # the auth alert of this failing streak went out
        self._covered_us: int | None = None  # the last snapshot's time: fills up to it are known
        self.snapshots = 0

    def _parse(self, raw: bytes | str, recv_ts: int) -> list[AnyEvent]:
        try:
            return self._parse_venue(raw, recv_ts)
        except AuthRejected as exc:
            self._refused(str(exc))
            raise SessionEnded("auth_failed", str(exc)) from None
        except SessionExpired as exc:
            raise SessionEnded("expired", str(exc)) from None

    async def _opening(self) -> tuple[str, list[Message]]:
        try:
            self._login = await self.api.login(self.link, self.base_url)
        except AuthRejected as exc:
            self._refused(str(exc))
            raise SessionEnded("auth_failed", str(exc)) from None
        except RestError as exc:
            raise SessionEnded("login_failed", type(exc).__name__) from None
        return self._login.url, list(self._login.messages)

    def _session_tasks(self, ws: Socket) -> list[asyncio.Task[None]]:
        self._connected_now.set()
        return [asyncio.create_task(self._renew(ws))] if self.api.renew is not None else []

    async def _handle(self, raw: bytes | str, ws: Socket) -> bool:
        await super()._handle(raw, ws)
        return True  # any frame proves a quiet account's socket alive (pongs, heartbeats, acks)

    async def _renew(self, ws: Socket) -> None:
        """Keep the login alive (Binance's listenKey, Deribit's token) every renew_s."""
        assert self.api.renew is not None and self._login is not None
        while True:
            await asyncio.sleep(self.api.renew_s)
            try:
                for message in await self.api.renew(self.link, self._login):
                    await _send(ws, message)
            except (SessionExpired, AuthRejected) as exc:
                log.info("account login expired: reconnecting",
                         extra={"feed": self.feed.name, "error": str(exc)[:200]})
                self._ended = "expired"
                await ws.close()
                return
            except RestError as exc:  # tried again next time, well inside the venue's validity
                log.warning("account login renewal failed",
                            extra={"feed": self.feed.name, "error": repr(exc)[:300]})

    def _refused(self, detail: str) -> None:
        """The venue refused the credentials: counted, logged, alerted once per failing streak."""
        account = self.link.account
        metrics.ACCOUNT_AUTH_FAILURES.labels(account.exchange, account.id).inc()
        log.error("account credentials refused", extra={"feed": self.feed.name, "error": detail[:200]})
        if self._alerted or not account.alerts.auth:
            return
        self._alerted = True
        now = now_us()
        self.producer.publish(Alert(
            source="accounts", severity="critical", key=f"account:{account.exchange}:{account.id}:auth",
            title=f"{account.id} ({account.exchange}): the venue refused the credentials",
            text=f"{detail[:300]}\nretrying with backoff; check the key with "
                 f"`python -m services.general accounts list`", ts=now, recv_ts=now))

    async def reconcile(self, stop: asyncio.Event) -> None:
        """A snapshot after every connect and every reconcile_s, until stopped."""
        while not stop.is_set():
            waits = [asyncio.create_task(self._connected_now.wait()), asyncio.create_task(stop.wait())]
            try:
                await asyncio.wait(waits, timeout=self.part.reconcile_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
                await asyncio.gather(*waits, return_exceptions=True)
            if stop.is_set():
                return
            reason = "connect" if self._connected_now.is_set() else "scheduled"
            self._connected_now.clear()
            if reason == "connect" and self.streamed:
                # the venue's verdict on the login comes first: a refused session is not reconciled
                # (the next connect is), so refused credentials cost no REST weight
                if await sleep_or_stop(stop, LOGIN_SETTLE_S) or self.connected_since is None:
                    continue
            await self.snapshot(reason)

    async def snapshot(self, reason: str) -> AccountSnapshot | None:
        """The venue's REST truth, published for the processor to compare; None when it failed."""
        since = await self._fills_since()
        started = time.monotonic()
        try:
            snapshot = await self.api.snapshot(self.link, since)
        except AuthRejected as exc:
            self._count_snapshot("refused")
            self._refused(str(exc))
            return None
        except RestError as exc:
            self._count_snapshot("failed")
            log.warning("account snapshot failed", extra={"feed": self.feed.name, "error": repr(exc)[:300]})
            return None
        self._count_snapshot("ok")
        snapshot = msgspec.structs.replace(snapshot, reason=reason)
        self.producer.publish(snapshot)
        self.snapshots += 1
        self._covered_us = snapshot.ts
        self._alerted = False  # the credentials work: a later refusal is a new streak
        log.info("account snapshot", extra={
            "feed": self.feed.name, "reason": reason, "open_orders": len(snapshot.open_orders),
            "fills": len(snapshot.fills), "took_s": round(time.monotonic() - started, 3)})
        if reason == "connect" and self.connected_since is not None and not self._session_data:
            self._first_data(now_us())  # the outage ends here: the state is whole again
        return snapshot

    def _count_snapshot(self, outcome: str) -> None:
        metrics.ACCOUNT_SNAPSHOTS.labels(self.link.account.exchange, self.link.account.id, outcome).inc()

    async def _fills_since(self) -> int:
        """From the last snapshot (everything before it is known), else the newest stored fill,
        else accounts.fills_lookback_s ago."""
        known = self._covered_us
        if known is None:
            try:
                known = await self.cursor()
            except (RedisError, OSError) as exc:  # Redis away: fall back to the lookback
                log.warning("fill cursor unreadable", extra={"feed": self.feed.name, "error": repr(exc)})
        if known is None:
            return now_us() - int(self.part.fills_lookback_s * 1e6)
        return known - FILLS_MARGIN_US

    async def run_all(self, stop: asyncio.Event) -> None:
        """The socket (unless over the venue's user cap) and the reconciliation, until stopped."""
        async with asyncio.TaskGroup() as tasks:
            if self.streamed:
                tasks.create_task(self.run(stop))
            else:
                self._connected_now.set()  # reconciled by REST only: the first snapshot at once
            tasks.create_task(self.reconcile(stop))
