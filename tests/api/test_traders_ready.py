"""/ready's traders section: the tracker's figures from its Redis hash, shown always, failing
readiness only while tracking is enabled and the figures are missing or a few cycles old."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.api.health import TRACKER_CYCLE_S, TRACKER_STALE_CYCLES, tracker_report
from shared.config import Settings
from shared.constants import SERVICES, tracker_status_key
from shared.events import now_us
from shared.health import beat_forever

NOW = 1_763_000_000_000_000
SECOND = 1_000_000


def fields(age_s: float, **more: str) -> dict[bytes, bytes]:
    figures = {"at": str(NOW - int(age_s * SECOND)), "weight_per_minute": "598", "traders_per_minute": "290",
               "largest_staleness_s": "1034.5", **more}
    return {key.encode(): value.encode() for key, value in figures.items()}


def test_fresh_figures_are_shown_as_numbers() -> None:
    report = tracker_report(fields(12.5), NOW, enabled=True)
    assert report == {"enabled": True, "ok": True, "age_s": 12.5,
                      "stale_after_s": TRACKER_STALE_CYCLES * TRACKER_CYCLE_S,
                      "weight_per_minute": 598, "traders_per_minute": 290, "largest_staleness_s": 1034.5}


@pytest.mark.parametrize(("hash_fields", "enabled", "ok", "error"), [
    (fields(TRACKER_STALE_CYCLES * TRACKER_CYCLE_S + 1), True, False, "tracker status is stale"),
    (fields(TRACKER_STALE_CYCLES * TRACKER_CYCLE_S + 1), False, True, "tracker status is stale"),
    ({}, True, False, "no tracker status"),
    ({}, False, True, "no tracker status"),
    (fields(25, cycle_s="10"), True, True, None),  # within 3 cycles of 10 s
    (fields(31, cycle_s="10"), True, False, "tracker status is stale"),
])
def test_missing_or_stale_figures_fail_only_while_tracking(
    hash_fields: dict[bytes, bytes], enabled: bool, ok: bool, error: str | None
) -> None:
    report = tracker_report(hash_fields, NOW, enabled)
    assert report["ok"] is ok and report.get("error") == error and report["enabled"] is enabled


async def test_ready_shows_the_tracker_and_fails_when_it_stops(
    aiohttp_client: AiohttpClient, make_settings: Callable[..., Settings], redis: aioredis.Redis
) -> None:
    enabled = make_settings(traders_enabled=True)
    disabled = make_settings()
    key = tracker_status_key(enabled.streams.prefix)
    stop = asyncio.Event()
    beats = [asyncio.create_task(beat_forever(redis, enabled, name, stop)) for name in SERVICES]
    try:
        tracking = await aiohttp_client(create_app(enabled))
        not_tracking = await aiohttp_client(create_app(disabled))
        await asyncio.sleep(0.2)

        response = await tracking.get("/ready")
        body = await response.json()
        assert response.status == 503 and body["traders"]["error"] == "no tracker status"
        assert (await not_tracking.get("/ready")).status == 200  # tracking off: the hash is not awaited

        await redis.hset(key, mapping={"at": now_us(), "weight_per_minute": 598, "traders_per_minute": 290,
                                       "largest_staleness_s": "1034.5", "cycle_s": 5})
        response = await tracking.get("/ready")
        body = await response.json()
        assert response.status == 200, body
        traders = body["traders"]
        assert traders["ok"] and traders["enabled"] and traders["weight_per_minute"] == 598
        assert traders["traders_per_minute"] == 290 and traders["largest_staleness_s"] == 1034.5
        assert 0 <= traders["age_s"] < 5 and traders["stale_after_s"] == 15

        await redis.hset(key, "at", now_us() - 16 * SECOND)  # three cycles of 5 s and more
        response = await tracking.get("/ready")
        body = await response.json()
        assert response.status == 503 and body["traders"]["error"] == "tracker status is stale"
        response = await not_tracking.get("/ready")
        body = await response.json()
        assert response.status == 200 and body["traders"]["error"] == "tracker status is stale"  # shown
    finally:
        stop.set()
        await asyncio.gather(*beats)
