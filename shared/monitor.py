"""The stream monitor: what each stream holds, how far each group lags, what waits in
its DLQ, what was trimmed before a group read it and what a failover lost (counted by the
producers, shared/write_audit.py); for /metrics, /ready and alerts.

Trimmed-before-read: a group whose last-delivered id is older than the stream's first
entry has lost entries to MAXLEN. Redis then keeps counting them in the group's lag
forever (its entries-read counter never sees them), which would make producers shed
for good; so the monitor records the loss in `<stream>:trimmed` and resets the group's
counter with XGROUP SETID ... ENTRIESREAD, atomically, in one script.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from shared import metrics
from shared.backoff import sleep_or_stop, until_stopped
from shared.config import Settings
from shared.constants import ALL_FAMILIES, dlq_key, family_streams, lost_key, trimmed_key
from shared.events import Alert, Event, StreamLag, now_us
from shared.streams import encode_entry, maxlen_of, stream_of

log = logging.getLogger(__name__)

# KEYS[1] stream, KEYS[2] its :trimmed hash; ARGV[1] group. Re-checks the condition the
# monitor saw (the group may have read meanwhile), records and forgives the loss.
RECONCILE_LUA = """
local function field(reply, name)
  for i = 1, #reply, 2 do if reply[i] == name then return reply[i + 1] end end
  return false
end
local function id_of(text)
  local ms, seq = string.match(text, "(%d+)-(%d+)")
  return tonumber(ms), tonumber(seq)
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local length, added, first = field(info, 'length'), field(info, 'entries-added'), field(info, 'first-entry')
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  if field(group, 'name') == ARGV[1] then
    local last, read = field(group, 'last-delivered-id'), field(group, 'entries-read')
    if length > 0 and first then
      local lm, ls = id_of(last)
      local fm, fs = id_of(first[1])
      if lm > fm or (lm == fm and ls >= fs) then return 0 end
    end
    if not read then
      if last ~= '0-0' then return 0 end
      read = 0
    end
    local skipped = added - length - read
    if skipped <= 0 then return 0 end
    redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], last, 'ENTRIESREAD', added - length)
    redis.call('HINCRBY', KEYS[2], ARGV[1], skipped)
    return skipped
  end
end
return 0
"""


@dataclass
class GroupFigures:
    """One consumer group: its backlog still in the stream, entries read but not acked, losses."""

    name: str
    lag: int | None  # unread entries still in the stream; None when Redis cannot tell
    pending: int
    consumers: int
    trimmed_recorded: int  # losses already recorded in <stream>:trimmed
    trimmed_new: int  # losses seen now, not recorded yet (the monitor records them)

    @property
    def trimmed_unread(self) -> int:
        return self.trimmed_recorded + self.trimmed_new


@dataclass
class StreamFigures:
    stream: str
    length: int
    cap: int
    dlq: int
    groups: list[GroupFigures] = field(default_factory=list)
    lost: int = 0  # entries Redis acknowledged, then lost in a failover (every producer's count)


def _id(raw: bytes | str) -> tuple[int, int]:
    ms, _, seq = (raw.decode() if isinstance(raw, bytes) else raw).partition("-")
    return int(ms), int(seq or 0)


def _name(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _group(info: dict[str, Any], group: dict[str, Any], recorded: dict[bytes, bytes]) -> GroupFigures:
    """A group is behind when its last-delivered id is older than the first entry: every entry
    left is unread, and what was added but neither read nor left was trimmed unread."""
    length, added = int(info["length"]), int(info.get("entries-added") or 0)
    first = info.get("first-entry")
    behind = not length or not first or _id(group["last-delivered-id"]) < _id(first[0])
    read = group.get("entries-read")
    if read is None and _id(group["last-delivered-id"]) == (0, 0):
        read = 0  # never read: Redis has no counter yet
    new = max(0, added - length - int(read)) if behind and read is not None else 0
    lag = length if behind else (None if group.get("lag") is None else int(group["lag"]))
    name = _name(group["name"])
    return GroupFigures(
        name=name,
        lag=lag,
        pending=int(group.get("pending") or 0),
        consumers=int(group.get("consumers") or 0),
        trimmed_recorded=int(recorded.get(name.encode(), 0)),
        trimmed_new=new,
    )


async def read_streams(redis: aioredis.Redis, settings: Settings) -> list[StreamFigures]:
    """Figures of every stream of every family that exists (or has dead letters), in one round trip."""
    streams = [
        stream
        for family in ALL_FAMILIES
        for stream in family_streams(settings.streams.prefix, family, settings.streams.partitions)
    ]
    async with redis.pipeline(transaction=False) as pipe:
        for stream in streams:
            pipe.xinfo_stream(stream)
            pipe.xinfo_groups(stream)
            pipe.xlen(dlq_key(stream))
            pipe.hgetall(trimmed_key(stream))
            pipe.hvals(lost_key(stream))
        replies = await pipe.execute(raise_on_error=False)
    figures = []
    for index, stream in enumerate(streams):
        info, groups, dlq, recorded, lost_counts = replies[5 * index : 5 * index + 5]
        for reply in (dlq, recorded, lost_counts):
            if isinstance(reply, ResponseError):
                raise reply
        lost = sum(int(n) for n in lost_counts)
        if isinstance(info, ResponseError) or isinstance(groups, ResponseError):  # no such stream
            if dlq or lost:
                figures.append(StreamFigures(stream, 0, maxlen_of(stream, settings), int(dlq), lost=lost))
            continue
        figures.append(
            StreamFigures(
                stream,
                int(info["length"]),
                maxlen_of(stream, settings),
                int(dlq),
                [_group(info, group, recorded) for group in groups],
                lost,
            )
        )
    return figures


def report_of(figures: list[StreamFigures]) -> dict[str, Any]:
    """stream -> length, cap, dlq and per group lag, pending, consumers, trimmed_unread (JSON-ready)."""
    return {
        f.stream: {
            "length": f.length,
            "cap": f.cap,
            "dlq": f.dlq,
            "lost": f.lost,
            "groups": {
                g.name: {
                    "lag": g.lag,
                    "pending": g.pending,
                    "consumers": g.consumers,
                    "trimmed_unread": g.trimmed_unread,
                }
                for g in f.groups
            },
        }
        for f in figures
    }


async def stream_report(redis: aioredis.Redis, settings: Settings) -> dict[str, Any]:
    """The streams section of /ready (read only: recording losses is the monitor's job)."""
    return report_of(await read_streams(redis, settings))


def lagging(report: dict[str, Any], settings: Settings) -> list[str]:
    """Groups whose backlog reached the share of the cap at which producers shed: not ready."""
    problems = []
    for stream, figures in report.items():
        limit = figures["cap"] * settings.producer.lag_fraction
        for group, g in figures["groups"].items():
            if g["lag"] is not None and g["lag"] >= limit:
                problems.append(f"{stream} group {group} lags {g['lag']} entries (limit {int(limit)})")
    return problems


def export(figures: list[StreamFigures]) -> None:
    """Set the stream gauges from one reading."""
    for f in figures:
        metrics.STREAM_LENGTH.labels(f.stream).set(f.length)
        metrics.STREAM_CAP.labels(f.stream).set(f.cap)
        metrics.DLQ_DEPTH.labels(f.stream).set(f.dlq)
        metrics.STREAM_LOST.labels(f.stream).set(f.lost)
        for g in f.groups:
            if g.lag is not None:
                metrics.STREAM_LAG.labels(f.stream, g.name).set(g.lag)
            metrics.STREAM_PENDING.labels(f.stream, g.name).set(g.pending)
            metrics.STREAM_TRIMMED_UNREAD.labels(f.stream, g.name).set(g.trimmed_unread)


def lag_events(figures: list[StreamFigures], now: int) -> list[StreamLag]:
    """Each group's known backlog as an event on th:status, which the alert rules read
    (services/processor/rules.py, kind stream_lag)."""
    return [StreamLag(stream=f.stream, group=g.name, lag=g.lag, cap=f.cap, ts=now, recv_ts=now)
            for f in figures for g in f.groups if g.lag is not None]


class StreamMonitor:
    """Reads every stream each `monitor_interval_s`, exports gauges, records trimmed-unread losses."""

    def __init__(self, redis: aioredis.Redis, settings: Settings, source: str = "processor") -> None:
        self.redis = redis
        self.settings = settings
        self.source = source
        self._reconcile = redis.register_script(RECONCILE_LUA)

    async def poll(self) -> list[StreamFigures]:
        return await self.record(await read_streams(self.redis, self.settings))

    async def record(self, figures: list[StreamFigures]) -> list[StreamFigures]:
        """Record the losses one reading shows and export its gauges."""
        for f in figures:
            for g in f.groups:
                if g.trimmed_new:
                    await self._record_loss(f.stream, g)
        export(figures)
        await self._publish_lags(lag_events(figures, now_us()))
        return figures

    async def _publish_lags(self, lags: list[StreamLag]) -> None:
        if not lags:
            return
        target = stream_of(lags[0], self.settings)
        events: list[Event] = [*lags]
        await self.redis.xadd(
            target,
            encode_entry(events),  # type: ignore[arg-type]  # bytes fit, but dict is invariant
            maxlen=maxlen_of(target, self.settings),
            approximate=True,
        )

    async def _record_loss(self, stream: str, group: GroupFigures) -> None:
        """Record (once, whoever sees it first) entries trimmed before `group` read them; alert."""
        skipped = int(await self._reconcile(keys=[stream, trimmed_key(stream)], args=[group.name]))
        if not skipped:
            return
        metrics.TRIMMED_UNREAD.labels(stream, group.name).inc(skipped)
        log.error(
            "entries trimmed before the group read them",
            extra={"stream": stream, "group": group.name, "entries": skipped},
        )
        now = now_us()
        alert = Alert(
            source=self.source,
            severity="critical",
            key=f"trimmed:{stream}:{group.name}",
            title=f"{stream}: {skipped} entries trimmed before group {group.name} read them",
            text="the group fell behind the stream cap (MAXLEN); raise the cap or add consumers",
            ts=now,
            recv_ts=now,
        )
        target = stream_of(alert, self.settings)
        await self.redis.xadd(
            target,
            encode_entry([alert]),  # type: ignore[arg-type]  # bytes fit, but dict is invariant
            maxlen=maxlen_of(target, self.settings),
            approximate=True,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until stopped; Redis being away is logged and retried next interval. The stop cuts a
        reading short, never the recording of a loss it showed."""
        while not stop.is_set():
            try:
                figures = await until_stopped(read_streams(self.redis, self.settings), stop)
                if figures is not None:
                    await self.record(figures)
            except (RedisError, OSError) as exc:
                metrics.REDIS_ERRORS.labels("monitor").inc()
                log.warning("stream monitor could not read redis", extra={"error": repr(exc)})
            await sleep_or_stop(stop, self.settings.streams.monitor_interval_s)
