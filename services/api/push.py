"""WebSocket push at /ws: one hub per API process reads the streams with plain XREAD (no
consumer group: every API instance pushes everything), from the moment a topic gets its
first subscriber, and fans each event out to the clients that want it.

The hub never waits for a client: it only appends to the client's bounded queue (see
push_client.py for the drop policy). Each connection has its own writer task; a client
whose socket accepts nothing for `ws_send_timeout_s` is disconnected, so a stalled client
slows neither other clients nor the service.

Private topics need an API key on the upgrade request (header, or ?api_key= where a browser cannot
set headers): `account` one with account:read, `alerts` (the user's alert rules firing) any valid
key; without one the socket opens for the public topics and a private subscription is answered
with an error. The key is checked again every
KEY_RECHECK_S: once revoked, the private subscriptions end.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import cast

import msgspec
import redis.asyncio as aioredis
from aiohttp import WSMsgType, web
from redis.exceptions import RedisError

from services.api.api_keys import MARKET, KeyRefused, authorize, key_text
from services.api.keys import REDIS, SETTINGS
from services.api.push_client import (
    PRIVATE_TOPICS,
    PushClient,
    PushRequest,
    RequestError,
    control_message,
    event_message,
    event_usd,
    parse_request,
    topic_of,
)
from shared import metrics
from shared.backoff import Backoff, sleep_or_stop, until_stopped
from shared.config import Settings
from shared.constants import FIELD_EVENTS, family_streams
from shared.events import batch_decoder
from shared.redis_connect import xread_any_slots

log = logging.getLogger(__name__)
TOPIC_FAMILY = {"trades": "trades", "candles": "candles", "liquidations": "liquidations",
                "large_trades": "large_trades", "spikes": "alerts", "positions": "positions",
                "account": "account", "alerts": "alerts"}
READ_COUNT = 100  # entries per stream per XREAD
KEY_RECHECK_S = 3.0  # with the key cache's 2 s, a revoked key's subscriptions end within 5 s
READ_BLOCK_MS = 500  # also the longest delay before a newly subscribed stream is read
# Kernel send buffer per client socket (Linux doubles it). Autotuning would grow it to
# megabytes, hiding a stalled client in kernel memory; this bounds memory per client and
# lets the send timeout notice the stall. 256 KiB still carries MB/s at 100 ms RTT.
SEND_BUFFER_BYTES = 256 * 1024
# XREAD's reply (RESP2, responses not decoded): [(stream, [(entry id, fields), ...]), ...]
ReadReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class PushHub:
    """Reads the subscribed topics' streams and offers every event to the clients that want it."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.clients: set[PushClient] = set()
        self.cursors: dict[str, str] = {}  # stream -> id of the last entry read
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._backoff = Backoff(base=0.2, cap=settings.redis_backoff_max_s)

    def streams_of(self, topic: str) -> list[str]:
        settings = self.settings
        return family_streams(settings.streams.prefix, TOPIC_FAMILY[topic], settings.streams.partitions)

    async def activate(self, topic: str) -> None:
        """Read a topic's streams from their current end: a subscriber gets what comes after it."""
        for stream in self.streams_of(topic):
            if stream not in self.cursors:
                newest = await self.redis.xrevrange(stream, count=1)
                # another subscriber may have activated it meanwhile: keep the earlier cursor
                self.cursors.setdefault(stream, cast(bytes, newest[0][0]).decode() if newest else "0-0")
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _prune(self) -> None:
        """Stop reading streams nobody is subscribed to any more."""
        topics = {topic for client in self.clients for topic in client.topics}
        wanted = {stream for topic in topics for stream in self.streams_of(topic)}
        for stream in [s for s in self.cursors if s not in wanted]:
            del self.cursors[stream]

    async def run(self) -> None:
        """XREAD the active streams until stopped; Redis errors back off and resume from the same ids.
        The stop cuts a read or a backoff short."""
        while not self._stop.is_set():
            self._prune()
            if not self.cursors:
                self._wake.clear()
                await self._wake.wait()
                continue
            # a copy of the cursors: subscriptions change them while the read waits
            read = xread_any_slots(self.redis, dict(self.cursors), count=READ_COUNT, block=READ_BLOCK_MS)
            try:
                reply = cast(ReadReply | None, await until_stopped(read, self._stop))
            except (RedisError, OSError) as exc:
                metrics.REDIS_ERRORS.labels("xread").inc()
                log.warning("push hub cannot read the streams", extra={"error": repr(exc)})
                await sleep_or_stop(self._stop, self._backoff.next_delay())
                continue
            self._backoff.reset()
            for raw_stream, entries in reply or []:
                stream = raw_stream.decode()
                for raw_id, fields in entries:
                    entry_id = raw_id.decode()
                    cursor = self.cursors.get(stream)
                    if cursor is None or _id(entry_id) <= _id(cursor):
                        continue  # unsubscribed meanwhile, or re-activated past this entry
                    self.cursors[stream] = entry_id
                    self._fan_out(stream, fields.get(FIELD_EVENTS, b""))
                    await asyncio.sleep(0)  # a big backlog never holds the loop for long

    def _fan_out(self, stream: str, payload: bytes) -> None:
        try:
            events = batch_decoder.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            metrics.PUSH_BAD_ENTRIES.labels(stream).inc()
            log.warning("push hub skipped an undecodable entry", extra={"stream": stream, "error": repr(exc)})
            return
        for event in events:
            topic = topic_of(event)
            if topic is None:
                continue  # e.g. an operator's Alert on th:alerts: only Spikes and rule firings are pushed
            listeners = [client for client in self.clients if topic in client.topics]
            if not listeners:
                continue
            usd = event_usd(event)
            message: str | None = None
            for client in listeners:
                if client.wants(topic, event, usd):
                    message = message or event_message(topic, event)
                    client.offer(message)
                    metrics.PUSH_MESSAGES.labels(topic).inc()

    async def handle(self, client: PushClient, text: str) -> None:
        """One request from a client: (un)subscribe, answered on the socket."""
        try:
            request = parse_request(text)
            if request.op == "subscribe":
                await self._subscribe(client, request)
            else:
                removed = client.unsubscribe(request)
                client.reply(control_message("unsubscribed", **request.filters(), removed=removed))
        except RequestError as exc:
            client.reply(control_message("error", error=str(exc)))

    async def _subscribe(self, client: PushClient, request: PushRequest) -> None:
        client.subscribe(request)
        try:
            await self.activate(request.topic)
        except (RedisError, OSError) as exc:
            client.unsubscribe(request)
            log.warning("push subscription failed", extra={"topic": request.topic, "error": repr(exc)})
            raise RequestError("streams unavailable, try again") from exc
        kinds = {"kinds": request.kinds} if request.topic == "positions" else {}
        client.reply(control_message("subscribed", **request.filters(), **kinds,
                                     min_usd=None if request.min_usd is None else str(request.min_usd)))


HUB = web.AppKey("push_hub", PushHub)
SOCKETS = web.AppKey("push_sockets", set)


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    """The hub's reading task starts with the app and is stopped and awaited with it."""
    hub = PushHub(app[REDIS], app[SETTINGS])
    app[HUB] = hub
    app[SOCKETS] = set()
    task = asyncio.create_task(hub.run(), name="push-hub")
    task.add_done_callback(_report_failure)
    yield
    hub.stop()
    await task


def _report_failure(task: asyncio.Task[None]) -> None:
    """A hub that dies says so at once, not only when the app is cleaned up and awaits it."""
    if not task.cancelled() and task.exception() is not None:
        log.error("push hub stopped", exc_info=task.exception())


async def close_sockets(app: web.Application) -> None:
    """On shutdown, say goodbye to every client instead of leaving the server waiting for them."""
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    await asyncio.gather(*(_goodbye(ws) for ws in list(sockets)))


async def _goodbye(ws: web.WebSocketResponse) -> None:
    try:
        await asyncio.wait_for(ws.close(code=1001, message=b"server shutdown"), 2.0)
    except TimeoutError:
        log.info("push client did not take the close frame")  # stalled: its handler cuts it off


async def _write(ws: web.WebSocketResponse, client: PushClient, timeout: float) -> str:
    """Send the client's messages in order; returns why it stopped."""
    while True:
        message = await client.next_message()
        try:
            await asyncio.wait_for(ws.send_str(message), timeout)
        except TimeoutError:
            return "stalled"
        except ConnectionError:
            return "gone"


async def _read(ws: web.WebSocketResponse, client: PushClient, hub: PushHub) -> str:
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await hub.handle(client, msg.data)
        elif msg.type == WSMsgType.BINARY:
            client.reply(control_message("error", error="requests are JSON text messages"))
        elif msg.type == WSMsgType.ERROR:
            return "error"
    return "closed"


async def _open_private(request: web.Request, client: PushClient) -> bool:
    """Grant the private topics' scopes the upgrade request's key opens; whether it gave a valid key.
    The refusal kept is the reason of a scope the key does not open ("lacks the scope account:read")."""
    if key_text(request, allow_query=True) is None:
        return False  # a public client: the refusal stays "no key given"
    granted: set[str] = set()
    for scope in sorted(set(PRIVATE_TOPICS.values())):
        try:
            await authorize(request, scope, allow_query=True)
            granted.add(scope)
        except KeyRefused as exc:
            client.refusal = exc.message
    client.grant(frozenset(granted))
    return bool(granted)


async def _watch_key(request: web.Request, client: PushClient) -> None:
    """Check the key again every KEY_RECHECK_S; revoked, the private subscriptions end (the socket
    stays for public topics). A database that cannot answer revokes nothing."""
    while True:
        await asyncio.sleep(KEY_RECHECK_S)
        try:
            await authorize(request, MARKET, allow_query=True)  # any valid key: revoked is refused
        except KeyRefused as exc:
            if exc.status != 503:
                removed = client.deny(exc.message)
                client.reply(control_message("error", error=f"{exc.message}: private topics closed",
                                             removed=removed))
                return


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """GET /ws: subscribe to topics with filters; events arrive as {"type":"event","topic":..,"data":..}."""
    settings, hub = request.app[SETTINGS], request.app[HUB]
    # compress=False: one encoding of each event is shared by every client; deflate would redo it per client
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096, compress=False, writer_limit=65536)
    await ws.prepare(request)
    sock = request.transport.get_extra_info("socket") if request.transport is not None else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    client = PushClient(settings.api.ws_client_queue, settings.api.ws_max_subscriptions)
    keyed = await _open_private(request, client)
    hub.clients.add(client)
    request.app[SOCKETS].add(ws)
    metrics.PUSH_CLIENTS.set(len(hub.clients))
    reason = "closed"
    try:
        async with asyncio.TaskGroup() as tasks:
            reader = tasks.create_task(_read(ws, client, hub))
            writer = tasks.create_task(_write(ws, client, settings.api.ws_send_timeout_s))
            watcher = tasks.create_task(_watch_key(request, client)) if keyed else None
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            reason = done.pop().result()
            for task in (reader, writer, watcher):
                if task is not None:
                    task.cancel()
    except* RequestError:
        reason = "flooding"
    finally:
        hub.clients.discard(client)
        request.app[SOCKETS].discard(ws)
        metrics.PUSH_CLIENTS.set(len(hub.clients))
    metrics.PUSH_DISCONNECTS.labels(reason).inc()
    if reason in ("stalled", "flooding") and request.transport is not None:
        log.info("push client cut off", extra={"reason": reason, "dropped": client.dropped_total})
        request.transport.abort()  # its socket takes nothing: a close frame would wait too
    elif not ws.closed:
        await ws.close()
    return ws
