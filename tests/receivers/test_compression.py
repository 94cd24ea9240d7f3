"""permessage-deflate is offered to the venues only when settings.websockets.compression asks: it
costs CPU on both ends for every frame (docs/configuration.md, TRADEHUB_WS_COMPRESSION)."""

from __future__ import annotations

from services.receivers.connection import FeedConnection
from tests.receivers.sim import FakeProducer, SettingsFactory, running, simulator, wait_until


async def test_deflate_only_when_configured(make_settings: SettingsFactory) -> None:
    async with simulator(make_settings) as sim:
        state = sim.venue("binance")
        for compression, deflated in ((False, 0), (True, 1)):
            producer = FakeProducer()
            feed = sim.feed("binance", ws_compression=compression)
            conn = FeedConnection(feed, producer, backoff_max_s=0.3)
            async with running(conn):
                await wait_until(lambda c=conn: c.data_frames > 3, what="trades")
            assert state.deflated == deflated, f"compression={compression}"
            assert producer.events, "the frames parsed whether deflated or not"
