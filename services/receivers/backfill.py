"""REST backfill: the trades a socket missed (an outage, a restart, a planned reconnect, or ids the
venue skipped with the socket up) fetched again from the venue's history and published like live
ones; storage and the candle builder ignore the ones already there (docs/backfill.md).

Each venue with a trade history by id gets one worker, spending from the venue's one VenueClient
(the pollers' budget). Jumps of one symbol queued together are fetched as one span. Each jump then
becomes a Gap of its symbol: healed (every id the venue has was published), partial (the venue's
history or backfill_max_trades ended first) or unrecoverable (nothing came back).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.receivers.backfill_positions import PositionWriter, VenuePositions, read_positions
from services.receivers.backfill_sequence import Missing, Sequencer
from services.receivers.capabilities import client_for
from services.receivers.exchanges import exchange_of
from services.receivers.exchanges.binance import history as binance_history
from services.receivers.exchanges.binance.symbols import NAME as BINANCE
from services.receivers.exchanges.binance.symbols import SPOT_NAME as BINANCE_SPOT
from services.receivers.frames import FrameError
from services.receivers.rest import RestError, VenueClient
from services.receivers.venue import Feed
from shared.backoff import until_stopped
from shared.config import Settings
from shared.events import Gap, GapStatus, Trade, now_us
from shared.settings import BackfillSettings
from shared.streams import StreamProducer

log = logging.getLogger(__name__)
FetchTrades = Callable[[VenueClient, str, int, int], Awaitable[list[Trade]]]


@dataclass(frozen=True)
class TradeHistory:
    """A venue's REST trades by id: fetch(client, raw symbol, from id, limit), oldest first."""

    fetch: FetchTrades
    page: int


# registry record -> its trade history; these venues' trade ids are consecutive per symbol:
# Binance USD-M aggTrade `a` and spot trade `t` (docs/backfill.md for each venue's promise)
HISTORIES: dict[str, TradeHistory] = {
    BINANCE: TradeHistory(binance_history.fetch_agg_trades, binance_history.PAGE_LIMIT),
    BINANCE_SPOT: TradeHistory(binance_history.fetch_spot_trades, binance_history.PAGE_LIMIT),
}


@dataclass
class Span:
    """Jumps of one symbol fetched together: their ids and what came back for each."""

    jumps: list[Missing]
    found: list[list[Trade]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.found = [[] for _ in self.jumps]

    def take(self, trade: Trade, trade_id: int) -> bool:
        """Keep a trade that falls in one of the jumps; False for the ones the socket gave."""
        for jump, found in zip(self.jumps, self.found, strict=True):
            if jump.first_id <= trade_id <= jump.last_id:
                found.append(trade)
                return True
        return False


class Backfiller:
    """One venue's worker: jumps in, trades and Gap records out."""

    def __init__(self, history: TradeHistory, client: VenueClient, producer: StreamProducer,
                 settings: BackfillSettings) -> None:
        self.history = history
        self.client = client
        self.producer = producer
        self.settings = settings
        self.queue: asyncio.Queue[Missing] = asyncio.Queue()

    def submit(self, jump: Missing) -> None:
        log.info("trade ids jumped", extra={"feed": jump.feed, "symbol": jump.symbol, "reason": jump.reason,
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
        """Fetch ids first..last of the span (at most max_trades of them), then judge each jump."""
        first, last = span.jumps[0].first_id, span.jumps[-1].last_id
        wanted = [j.last_id - j.first_id + 1 for j in span.jumps]
        cap = self._cap_id(span.jumps, self.settings.max_trades)
        next_id, reached, failed = first, first - 1, False
        try:
            while next_id <= min(last, cap):
                page = await self.history.fetch(self.client, span.jumps[0].raw_symbol, next_id,
                                                min(self.history.page, min(last, cap) - next_id + 1))
                if not page:
                    break
                for trade in page:
                    trade_id = int(trade.trade_id)
                    if next_id <= trade_id <= cap and span.take(trade, trade_id):
                        self.producer.publish(trade)
                if int(page[-1].trade_id) < next_id:
                    break  # the venue answered older trades than asked for: nothing newer to read
                reached = max(reached, int(page[-1].trade_id))
                next_id = reached + 1
        except (RestError, FrameError) as exc:
            failed = True
            log.warning("backfill stopped", extra={"symbol": span.jumps[0].symbol, "error": str(exc)[:200]})
        for jump, found, count in zip(span.jumps, span.found, wanted, strict=True):
            self._record(jump, found, _status(jump, found, count, reached, cap, failed))

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

    def _record(self, jump: Missing, found: list[Trade], status: GapStatus) -> None:
        now = now_us()
        gap = Gap(feed=jump.feed, exchange=jump.exchange, from_ts=jump.from_ts, to_ts=jump.to_ts,
                  reason=jump.reason, symbol=jump.symbol, first_missing_id=str(jump.first_id),
                  last_missing_id=str(jump.last_id), status=status, recovered=len(found),
                  first_recovered_id=found[0].trade_id if found else None,
                  last_recovered_id=found[-1].trade_id if found else None, ts=now, recv_ts=now)
        self.producer.publish(gap)
        missing = jump.last_id - jump.first_id + 1
        log.info("gap backfilled", extra={"feed": gap.feed, "symbol": gap.symbol, "status": status,
                                          "missing": missing, "recovered": len(found)})


def _status(jump: Missing, found: list[Trade], wanted: int, reached: int, cap: int,
            failed: bool) -> GapStatus:
    """healed: the venue's history was read through the jump's last id from its first (ids it does
    not list were never trades); partial: some came back; unrecoverable: none did."""
    oldest_kept = int(found[0].trade_id) if found else None
    whole = reached >= jump.last_id and cap >= jump.last_id and not failed
    if whole and (len(found) == wanted or oldest_kept == jump.first_id):
        return "healed"
    return "partial" if found else "unrecoverable"


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
        """The socket's sequencer, when its venue's trade ids are consecutive; None otherwise."""
        worker = self.workers.get(feed.exchange)
        if worker is None or feed.private:
            return None
        venue = exchange_of(feed.exchange)
        sequencer = Sequencer(feed.name, feed.exchange, venue, worker.submit, self.resume.get(venue))
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


def history_records(feeds: Iterable[Feed]) -> list[str]:
    """The registry records of these sockets that have a trade history by id."""
    return sorted({feed.exchange for feed in feeds if feed.exchange in HISTORIES})


@asynccontextmanager
async def open_backfill(settings: Settings, redis: aioredis.Redis, producer: StreamProducer,
                        feeds: list[Feed], clients: Mapping[str, VenueClient] | None = None,
                        ) -> AsyncIterator[Backfill]:
    """Workers for the venues of `feeds` with a history, on their `clients` (else their own), and
    where the previous process stopped."""
    records = history_records(feeds)
    try:
        resume = await read_positions(redis, settings.streams.prefix, {exchange_of(r) for r in records})
    except (RedisError, OSError) as exc:
        log.warning("trade positions unreadable: restart gaps not backfilled", extra={"error": repr(exc)})
        resume = {}
    async with AsyncExitStack() as stack:
        workers = {}
        for record in records:
            client = (clients or {}).get(record)
            if client is None:
                client = await stack.enter_async_context(client_for(settings, record))
            workers[record] = Backfiller(HISTORIES[record], client, producer, settings.backfill)
        yield Backfill(settings, producer, redis, workers, resume)
