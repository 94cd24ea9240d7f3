"""GET /api/v1/gaps: where market data is missing. Stored gaps (closed outages, from the gaps
table) newest first, and the outages still open now (from the feeds' states in Redis), so a user
sees both what was lost and what is being lost."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from services.api.data import fetch
from services.api.keys import REDIS, SETTINGS
from services.api.params import EpochMicros, Feed, Name, Page, capped, parse_query
from shared.events import now_us
from shared.feed_status import STALE_AFTER_INTERVALS, FeedStatus, read_feed_statuses

GAPS_QUERY = """
SELECT feed, exchange, from_ts, to_ts, to_ts - from_ts AS duration_us, reason, symbol, first_missing_id,
       last_missing_id, status, recovered, first_recovered_id, last_recovered_id
FROM gaps
WHERE ($1::text IS NULL OR feed = $1) AND ($2::text IS NULL OR exchange = $2)
  AND ($3::bigint IS NULL OR to_ts >= $3)
ORDER BY from_ts DESC, feed
LIMIT $4
"""
READ_TIMEOUT_S = 2.0


class GapsQuery(Page, frozen=True, kw_only=True):
    """GET /api/v1/gaps?feed=&exchange=&since=&limit= (a feed such as okx:business:0 has colons)."""

    feed: Feed | None = None
    exchange: Name | None = None
    since: EpochMicros | None = None


def open_gap(status: FeedStatus, now: int, interval_s: float) -> dict[str, Any]:
    """An outage still going on: no to_ts yet; stale when its receivers process stopped reporting."""
    return {
        "feed": status.feed,
        "exchange": status.exchange,
        "from_ts": status.outage_from,
        "to_ts": None,
        "duration_us": now - (status.outage_from or now),
        "reason": status.reason or "restart",
        "ongoing": True,
        "connected": status.connected,
        "failures": status.failures,
        "stale": (now - status.at) / 1e6 > STALE_AFTER_INTERVALS * interval_s,
    }


async def ongoing(request: web.Request, feed: str | None, exchange: str | None) -> list[dict[str, Any]]:
    settings = request.app[SETTINGS]
    statuses = await asyncio.wait_for(
        read_feed_statuses(request.app[REDIS], settings.streams.prefix), READ_TIMEOUT_S
    )
    now = now_us()
    return [
        open_gap(s, now, settings.websockets.status_interval_s)
        for s in statuses
        if s.outage_from is not None
        and (feed is None or s.feed == feed)
        and (exchange is None or s.exchange == exchange)
    ]


async def gaps(request: web.Request) -> web.Response:
    """GET /api/v1/gaps?feed=&exchange=&since=&limit=: stored gaps newest first, plus open ones."""
    q = parse_query(request, GapsQuery)
    feed, exchange = q.feed, q.exchange
    rows = await fetch(request, GAPS_QUERY, feed, exchange, q.since, capped(request, q.limit))
    for row in rows:
        row["ongoing"] = False
    body: dict[str, Any] = {"gaps": rows, "count": len(rows)}
    try:
        body["ongoing"] = await ongoing(request, feed, exchange)
    except (RedisError, OSError, TimeoutError) as exc:  # stored gaps still answer without Redis
        body["ongoing"], body["ongoing_error"] = [], type(exc).__name__
    return web.json_response(body)
