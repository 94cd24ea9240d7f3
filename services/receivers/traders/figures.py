"""What the tracker reports, as Prometheus figures and in the Redis hash /ready reads
(shared/constants.py tracker_status_key): the weight used in the last minute (by every Hyperliquid
call of the IP, and by the tracker's share), the traders tracked in the last minute, and the
largest staleness (now - last tracked, over every tracked trader of the rotation) beside the bound
the budget sets for it.

Fields of the hash (numbers as text; `at` in µs, times in seconds):
  at, weight_per_minute, weight_limit, tracker_weight_per_minute, tracker_weight_limit,
  traders_per_minute, largest_staleness_s (absent while nobody was tracked), staleness_bound_s,
  rotation, never_tracked, watched, cycles.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from services.receivers.budget import RollingWindow
from services.receivers.traders.rotation import Rotation
from shared import metrics
from shared.constants import tracker_status_key
from shared.events import now_us

log = logging.getLogger(__name__)
STATUS_TTL_S = 120  # a tracker that stopped writing disappears from /ready within two minutes
MINUTE_S = 60.0


class Figures:
    """Counts kept in memory, and the writer of the figures every interval."""

    def __init__(self, rotation: Rotation, prefix: str, lane: RollingWindow,
                 bound: Callable[[int, int], float], clock: Callable[[], float] = time.time) -> None:
        self.rotation = rotation
        self.key = tracker_status_key(prefix)
        self.lane = lane  # the tracker's share; its root is the venue's whole window
        self.bound = bound  # (traders of the rotation, watched) -> the staleness the budget allows, s
        self.clock = clock
        self.cycles = 0
        self._tracked: deque[float] = deque()  # when each trader state of the last minute was read

    def tracked(self) -> None:
        """One trader's state was read."""
        self._tracked.append(self.clock())

    def traders_per_minute(self) -> int:
        horizon = self.clock() - MINUTE_S
        while self._tracked and self._tracked[0] <= horizon:
            self._tracked.popleft()
        return len(self._tracked)

    async def collect(self) -> dict[str, float | int | None]:
        """The figures now (reads the rotation's sizes and oldest score from Redis)."""
        sizes = await self.rotation.sizes()
        oldest_ms = await self.rotation.oldest_tracked_ms()
        now = self.clock()
        root = self.lane.root
        return {
            "at": now_us(),
            "weight_per_minute": root.used(),
            "weight_limit": root.limit,
            "tracker_weight_per_minute": self.lane.used(),
            "tracker_weight_limit": self.lane.limit,
            "traders_per_minute": self.traders_per_minute(),
            "largest_staleness_s": None if oldest_ms is None else max(0.0, now - oldest_ms / 1000),
            "staleness_bound_s": self.bound(sizes["all"], sizes["watched"]),
            "rotation": sizes["all"],
            "never_tracked": sizes["never_tracked"],
            "watched": sizes["watched"],
            "cycles": self.cycles,
        }

    async def write(self) -> dict[str, float | int | None] | None:
        """Collect, set the metrics and the hash; a Redis failure is counted and logged, never raised."""
        try:
            figures = await self.collect()
            fields: dict[FieldT, EncodableT] = {k: v for k, v in figures.items() if v is not None}
            async with self.rotation.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self.key)
                pipe.hset(self.key, mapping=fields)
                pipe.expire(self.key, STATUS_TTL_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            metrics.REDIS_ERRORS.labels("tracker_status").inc()
            log.warning("tracker figures not written", extra={"error": repr(exc)})
            return None
        metrics.TRACKER_WEIGHT.labels("venue").set(figures["weight_per_minute"] or 0)
        metrics.TRACKER_WEIGHT.labels("tracker").set(figures["tracker_weight_per_minute"] or 0)
        metrics.TRACKER_WEIGHT_LIMIT.labels("venue").set(figures["weight_limit"] or 0)
        metrics.TRACKER_WEIGHT_LIMIT.labels("tracker").set(figures["tracker_weight_limit"] or 0)
        metrics.TRACKER_TRADERS_PER_MINUTE.set(figures["traders_per_minute"] or 0)
        metrics.TRACKER_STALENESS.set(figures["largest_staleness_s"] or 0)
        for kind in ("all", "never_tracked", "watched"):
            metrics.TRACKER_ROTATION.labels(kind).set(figures["rotation" if kind == "all" else kind] or 0)
        return figures
