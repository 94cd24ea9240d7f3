"""REST backfill: the trades a socket missed (an outage, a restart, a planned reconnect, or keys the
venue skipped with the socket up) fetched again from the venue's history and published like live
ones; storage and the candle builder ignore the ones already there (docs/backfill.md).

Each venue with a trade history gets one worker, spending from the venue's one VenueClient (the
pollers' budget). Jumps of one symbol queued together are fetched as one span. Each jump then
becomes a Gap of its symbol: healed (the history was read across the whole jump), partial (the
venue's history or backfill_max_trades ended first) or unrecoverable (nothing came back).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.receivers.backfill_histories import HISTORIES, TradeHistory
from services.receivers.backfill_positions import PositionWriter, VenuePositions, read_positions
from services.receivers.backfill_sequence import Missing, OutageSequencer, Sequencer
from services.receivers.capabilities import client_for
from services.receivers.exchanges import exchange_of
from services.receivers.feeds import VenueFacts, venue_facts
from services.receivers.frames import FrameError
from services.receivers.rest import RestError, VenueClient
from services.receivers.venue import NO_FACTS, Facts, Feed
from shared.backoff import until_stopped
from shared.config import Settings
from shared.events import Gap, GapStatus, Trade, now_us
from shared.settings import BackfillSettings
from shared.streams import StreamProducer

log = logging.getLogger(__name__)


def _aggregated_into(trade: Trade, after: Trade | None) -> bool:
    """OKX pushes one trade per taker order and price, id = its last match's (`count` matches); the
    history lists the matches. A match at the closing trade's time, price and side, below its id,
    is part of it."""
    return after is not None and (trade.ts, trade.price, trade.side) == (after.ts, after.price, after.side)


@dataclass
class Span:
    """Jumps of one symbol fetched together: their keys and what came back for each."""

    jumps: list[Missing]
    found: list[list[tuple[int, Trade]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.found = [[] for _ in self.jumps]

    def take(self, key: int, trade: Trade) -> bool:
        """Keep a trade that falls in one of the jumps; False for the ones the socket gave."""
        for jump, found in zip(self.jumps, self.found, strict=True):
            if jump.first_id <= key <= jump.last_id:
                if trade.trade_id in jump.seen or _aggregated_into(trade, jump.after):
                    return False
                found.append((key, trade))
                return True
        return False


class Backfiller:
    """One venue's worker: jumps in, trades and Gap records out."""

    def __init__(self, history: TradeHistory, client: VenueClient, producer: StreamProducer,
                 settings: BackfillSettings, facts: Facts = NO_FACTS) -> None:
        self.history = history
        self.client = client
        self.producer = producer
        self.settings = settings
        self.facts = facts  # the venue's table the live parse reads (OKX ctVal)
        self.queue: asyncio.Queue[Missing] = asyncio.Queue()

    def submit(self, jump: Missing) -> None:
        log.info("trades missed", extra={"feed": jump.feed, "symbol": jump.symbol, "reason": jump.reason,
                                         "first_id": jump.first_id, "last_id": jump.last_id})
        if self.settings.enabled:
            self.queue.put_nowait(jump)
        else:
            self._record(jump, [], "unrecoverable")

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            jump = await until_stopped(self.queue.get(), stop)
            if jump is None:
                return
            await until_stopped(self.heal(self._span(jump)), stop)

    def _span(self, jump: Missing) -> Span:
        """This jump and the queued ones of the same symbol (the rest go back in order)."""
        jumps, others = [jump], list[Missing]()
        while not self.queue.empty():
            queued = self.queue.get_nowait()
            same = queued.symbol == jump.symbol and queued.record == jump.record
            (jumps if same else others).append(queued)
        for other in others:
            self.queue.put_nowait(other)
        return Span(sorted(jumps, key=lambda j: j.first_id))

    async def heal(self, span: Span) -> None:
        """Read keys first..last of the span (ids: at most max_trades of them), then judge each jump."""
        first, last = span.jumps[0].first_id, span.jumps[-1].last_id
        by_ms = self.history.keyed == "ms"  # at most 1000 trades (Bybit): no cap by key
        end = last if by_ms else min(last, self._cap_id(span.jumps, self.settings.max_trades))
        next_key, start, reached, failed = first, first, first - 1, False
        try:
            while next_key <= end:
                page = await self.history.fetch(self.client, self.facts, span.jumps[0].raw_symbol, next_key,
                                                end, min(self.history.page, end - next_key + 1))
                if next_key == first:
                    start = page.start
                for key, trade in page.trades:
                    if next_key <= key <= end and span.take(key, trade):
                        self.producer.publish(trade)
                if page.through < next_key:
                    break  # nothing newer to read
                reached = page.through
                next_key = reached + 1
        except (RestError, FrameError) as exc:
            failed = True
            log.warning("backfill stopped", extra={"symbol": span.jumps[0].symbol, "error": str(exc)[:200]})
        for jump, found in zip(span.jumps, span.found, strict=True):
            whole = not failed and start <= jump.first_id and min(reached, end) >= jump.last_id
            self._record(jump, found, "healed" if whole else "partial" if found else "unrecoverable")

    @staticmethod
    def _cap_id(jumps: list[Missing], max_trades: int) -> int:
        """The last id fetched: max_trades missing ids counted jump by jump, oldest first."""
        left = max_trades
        for jump in jumps:
            size = jump.last_id - jump.first_id + 1
            if size > left:
                return jump.first_id + left - 1
            left -= size
        return jumps[-1].last_id

    def _label(self, key: int, trade: Trade) -> str:
        """How a gap record names a trade: its key (id or trade_seq), or its id where keys are ms."""
        return trade.trade_id if self.history.keyed == "ms" else str(key)

    def _record(self, jump: Missing, found: list[tuple[int, Trade]], status: GapStatus) -> None:
        now = now_us()
        by_ms = self.history.keyed == "ms"  # the window is from_ts..to_ts: the ids missing are unknown
        gap = Gap(feed=jump.feed, exchange=jump.exchange, from_ts=jump.from_ts, to_ts=jump.to_ts,
                  reason=jump.reason, symbol=jump.symbol, status=status, recovered=len(found),
                  first_missing_id=None if by_ms else str(jump.first_id),
                  last_missing_id=None if by_ms else str(jump.last_id),
                  first_recovered_id=self._label(*found[0]) if found else None,
                  last_recovered_id=self._label(*found[-1]) if found else None, ts=now, recv_ts=now)
        self.producer.publish(gap)
        log.info("gap backfilled", extra={"feed": gap.feed, "symbol": gap.symbol, "status": status,
                                          "first_id": jump.first_id, "last_id": jump.last_id,
                                          "recovered": len(found)})


class Backfill:
    """The sequencers of a process's sockets, their venues' workers and the position writer."""

    def __init__(self, settings: Settings, producer: StreamProducer, redis: aioredis.Redis,
                 workers: Mapping[str, Backfiller], resume: VenuePositions) -> None:
        self.settings = settings
        self.redis = redis
        self.workers = dict(workers)
        self.resume = resume
        self.sequencers: list[Sequencer] = []

    def sequencer(self, feed: Feed) -> Sequencer | None:
        """The socket's sequencer, when its venue has a trade history; None otherwise."""
        worker = self.workers.get(feed.exchange)
        if worker is None or feed.private:
            return None
        venue, history = exchange_of(feed.exchange), worker.history
        args = (feed.name, feed.exchange, venue, worker.submit, self.resume.get(venue), history.key_of)
        sequencer = (Sequencer(*args) if history.consecutive
                     else OutageSequencer(*args, shared_keys=history.keyed == "ms"))
        self.sequencers.append(sequencer)
        return sequencer

    def positions(self) -> VenuePositions:
        snapshot: VenuePositions = {}
        for sequencer in self.sequencers:
            snapshot.setdefault(sequencer.exchange, {}).update(sequencer.positions())
        return snapshot

    async def run(self, stop: asyncio.Event) -> None:
        writer = PositionWriter(self.redis, self.settings.streams.prefix, self.positions,
                                self.settings.backfill.position_interval_s)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(writer.run(stop))
            for worker in self.workers.values():
                tasks.create_task(worker.run(stop))


def _records(feeds: Iterable[Feed]) -> list[str]:
    """The registry records of these sockets that have a trade history."""
    return sorted({feed.exchange for feed in feeds if feed.exchange in HISTORIES})


def _client_record(record: str) -> str:
    return HISTORIES[record].client or record


def history_records(feeds: Iterable[Feed]) -> list[str]:
    """The REST clients (registry records) the backfill of these sockets reads: bybit's for bybit_spot."""
    return sorted({_client_record(record) for record in _records(feeds)})


@asynccontextmanager
async def open_backfill(settings: Settings, redis: aioredis.Redis, producer: StreamProducer,
                        feeds: list[Feed], clients: Mapping[str, VenueClient] | None = None,
                        facts: VenueFacts | None = None) -> AsyncIterator[Backfill]:
    """Workers for the venues of `feeds` with a history, on their `clients` (else their own), reading
    the tables the live parse reads (`facts`, else the built-in ones), and where the previous process
    stopped."""
    records = _records(feeds)
    facts = venue_facts(settings) if facts is None else facts
    try:
        resume = await read_positions(redis, settings.streams.prefix, {exchange_of(r) for r in records})
    except (RedisError, OSError) as exc:
        log.warning("trade positions unreadable: restart gaps not backfilled", extra={"error": repr(exc)})
        resume = {}
    async with AsyncExitStack() as stack:
        own: dict[str, VenueClient] = dict(clients or {})
        workers = {}
        for record in records:
            name = _client_record(record)
            if name not in own:
                own[name] = await stack.enter_async_context(client_for(settings, name))
            workers[record] = Backfiller(HISTORIES[record], own[name], producer, settings.backfill,
                                         facts.get(record, NO_FACTS))
        yield Backfill(settings, producer, redis, workers, resume)
