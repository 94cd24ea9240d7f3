"""Tracked traders' snapshots (TraderState) applied inside the batch's transaction: each is diffed
against the stored positions, the changes stored, the positions and the trader row updated.

The stored state is the reference, so a restart neither invents nor loses a change: a snapshot at
or before the trader's `last_tracked` changes nothing (its stored changes are published again, in
case the first publication died with the process), and a trader's first snapshot is a baseline
that opens nothing (its positions were opened before tracking began).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import asyncpg

from services.processor.position_diff import diff_positions, open_positions
from services.processor.store import checked
from services.processor.tables_analytics import merge
from services.processor.tables_traders import (
    CHANGES_AT,
    DROP_POSITIONS,
    ENSURE_TRADERS,
    LOCK_TRADERS,
    POSITION_CHANGES,
    POSITION_COLUMNS,
    RECENT_LIQUIDATIONS,
    STORED_POSITIONS,
    TRACKED,
    change_of,
    position_of,
    position_row,
)
from shared import metrics
from shared.events import PositionChange, TraderPosition, TraderState

Locked = dict[str, asyncpg.Record]  # address -> its traders row (tracked_since, last_tracked, watch)


async def lock_traders(conn: asyncpg.Connection, seen: Iterable[tuple[str, str, int]]) -> Locked:
    """The batch's traders (address, exchange, time seen), their rows created when missing, then
    locked in address order for the rest of the transaction."""
    first: dict[str, tuple[str, int]] = {}
    for address, exchange, ts in seen:
        if address not in first or ts < first[address][1]:
            first[address] = (exchange, ts)
    if not first:
        return {}
    addresses = sorted(first)
    await conn.execute(ENSURE_TRADERS, addresses, [first[a][0] for a in addresses],
                       [first[a][1] for a in addresses])
    return {row["address"]: row for row in await conn.fetch(LOCK_TRADERS, addresses)}


async def apply_states(conn: asyncpg.Connection, states: Sequence[TraderState],
                       locked: Locked) -> list[PositionChange]:
    """Diff, store and apply the snapshots, oldest first per trader; the changes to publish."""
    if not states:
        return []
    addresses = sorted({state.address for state in states})
    positions: dict[str, dict[str, TraderPosition]] = defaultdict(dict)
    for row in await conn.fetch(STORED_POSITIONS, addresses):
        positions[row["address"]][row["symbol"]] = position_of(row)
    liquidations: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in await conn.fetch(RECENT_LIQUIDATIONS, addresses):
        liquidations[row["address"]].append((row["symbol"], row["ts"]))
    changes: list[PositionChange] = []
    replays: list[tuple[str, int]] = []
    applied: dict[str, tuple[int, TraderState]] = {}  # address -> (first ts applied, newest state)
    for state in sorted(states, key=lambda s: (s.address, s.ts)):
        done = applied.get(state.address)
        last: int | None = done[1].ts if done else locked[state.address]["last_tracked"]
        if last is not None and state.ts <= last:
            replays.append((state.address, state.ts))
            continue
        if last is not None:  # tracked before: diff; else the first snapshot is the baseline
            window = {symbol for symbol, ts in liquidations[state.address] if last < ts <= state.ts}
            changes.extend(diff_positions(positions[state.address], state, window))
        positions[state.address] = open_positions(state)
        applied[state.address] = (done[0] if done else state.ts, state)
    await merge(conn, POSITION_CHANGES, changes)
    await _write_positions(conn, applied, positions)
    republished = [change_of(row) for row in await conn.fetch(
        CHANGES_AT, [a for a, _ in replays], [ts for _, ts in replays])] if replays else []
    unique = {(c.account, c.symbol, c.ts): c for c in [*changes, *republished]}
    return list(unique.values())


async def _write_positions(conn: asyncpg.Connection, applied: dict[str, tuple[int, TraderState]],
                           positions: dict[str, dict[str, TraderPosition]]) -> None:
    """Each applied trader's positions replaced by its newest snapshot's; its row updated."""
    if not applied:
        return
    addresses = sorted(applied)
    newest = [applied[address][1] for address in addresses]
    rows = [position_row(state.address, state.ts, position)
            for state in newest for position in positions[state.address].values()]
    await conn.execute(DROP_POSITIONS, addresses)
    if rows:
        await conn.copy_records_to_table("trader_positions", records=rows, columns=POSITION_COLUMNS)
    await conn.execute(TRACKED, addresses, [applied[address][0] for address in addresses],
                       [state.ts for state in newest],
                       [checked(state.account_value, "account_value") for state in newest],
                       [checked(state.notional, "notional") for state in newest],
                       [state.fills_complete for state in newest])
    metrics.EVENTS_STORED.labels("trader_positions").inc(len(rows))
