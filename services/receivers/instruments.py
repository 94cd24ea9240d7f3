"""Venue facts only a REST call answers, loaded before the feeds that need them start and kept
fresh while they run: OKX contract values (a swap's size arrives in contracts of ctVal coins).

The table is the one the OKX parse already holds, filled in place, so a swap listed after the
start is converted once the next refresh has seen it. Until a load succeeds the built-in values
and `okx_contract_values` serve, and a swap without a value is refused frame by frame, never
guessed. `okx_contract_values` wins over what the venue answers: it is the user's word.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableMapping
from decimal import Decimal

from services.receivers.capabilities import client_for
from services.receivers.exchanges import okx
from services.receivers.frames import FrameError
from services.receivers.rest import RestError, VenueClient
from shared.config import Settings

log = logging.getLogger(__name__)
REFRESH_S = 3600.0  # new listings reach the table within the hour
RETRY_S = 60.0  # after a failed load
FIRST_LOAD_S = 15.0  # the OKX feeds wait at most this long for the first load


async def load_okx_contract_values(client: VenueClient, table: MutableMapping[str, Decimal],
                                   settings: Settings) -> bool:
    """One load into `table`; False (logged) when the venue did not answer usably."""
    try:
        fetched = await okx.fetch_contract_values(client)
    except (RestError, FrameError) as exc:
        log.warning("okx contract values not loaded: swaps outside the built-in table are refused",
                    extra={"error": str(exc)[:300]})
        return False
    overrides = {inst_id: table[inst_id] for inst_id in settings.okx_contract_values if inst_id in table}
    table.update(fetched)
    table.update(overrides)
    missing = [i for i in settings.okx_instruments if i.endswith("-SWAP") and i not in table]
    if missing:
        log.error("okx swaps without a contract value: their frames are refused",
                  extra={"instruments": missing})
    log.info("okx contract values loaded", extra={"swaps": len(fetched)})
    return True


async def keep_okx_contract_values(settings: Settings, table: MutableMapping[str, Decimal],
                                   first_done: asyncio.Event, stop: asyncio.Event) -> None:
    """Load now (first_done is set after the first attempt, whatever it gave), then every
    REFRESH_S, or RETRY_S after a failure, until stop."""
    try:
        async with client_for(settings, "okx") as client:
            await _keep(client, settings, table, first_done, stop)
    finally:
        first_done.set()  # stopped or failed before the first attempt: nobody waits for ever


async def _keep(client: VenueClient, settings: Settings, table: MutableMapping[str, Decimal],
                first_done: asyncio.Event, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with asyncio.timeout(FIRST_LOAD_S if not first_done.is_set() else None):
                loaded = await load_okx_contract_values(client, table, settings)
        except TimeoutError:
            log.warning("okx contract values: no answer in time, the feeds start without them")
            loaded = False
        first_done.set()
        try:
            await asyncio.wait_for(stop.wait(), REFRESH_S if loaded else RETRY_S)
        except TimeoutError:
            pass
