"""A trader's new state against the stored one, coin by coin: the PositionChanges between two
snapshots. Pure: no I/O, no clock (docs/traders.md, "Diff rules").

  before 0,  after != 0            open
  before != 0, after 0             close (liquidated when a liquidation fill of that coin came
                                   after the previous snapshot and at or before this one)
  same sign, |after| > |before|    increase
  same sign, |after| < |before|    decrease (a partial close)
  opposite signs                   flip (long to short or back in one step)
  equal sizes                      no change (entry price or PnL moving alone is not a change)
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal

from shared.events import ChangeKind, PositionChange, TraderPosition, TraderState

ZERO = Decimal(0)


def change_kind(before: Decimal, after: Decimal) -> ChangeKind | None:
    """How a signed size moved; None when it did not."""
    if before == after:
        return None
    if before == ZERO:
        return "open"
    if after == ZERO:
        return "close"
    if (before > ZERO) != (after > ZERO):
        return "flip"
    return "increase" if abs(after) > abs(before) else "decrease"


def open_positions(state: TraderState) -> dict[str, TraderPosition]:
    """The state's positions by symbol, without zero sizes (a closed coin may still be listed)."""
    return {position.symbol: position for position in state.positions if position.size != ZERO}


def diff_positions(before: Mapping[str, TraderPosition], state: TraderState,
                   liquidated: Collection[str] = ()) -> list[PositionChange]:
    """The changes from `before` (the stored positions, by symbol) to `state`, by symbol.

    A change shows the position after it; a close shows the position it closed. `liquidated`
    holds the symbols with a liquidation fill since the previous snapshot: only a close is marked
    (a partial liquidation that leaves a position is a decrease)."""
    after = open_positions(state)
    changes: list[PositionChange] = []
    for symbol in sorted(before.keys() | after.keys()):
        old, new = before.get(symbol), after.get(symbol)
        old_size = ZERO if old is None else old.size
        new_size = ZERO if new is None else new.size
        kind = change_kind(old_size, new_size)
        if kind is None:
            continue
        shown = new if new is not None else old
        assert shown is not None  # a change has a position on at least one side
        changes.append(PositionChange(
            account=state.address, exchange=state.exchange, symbol=symbol, old_size=old_size,
            new_size=new_size, price=shown.entry_price, change=kind, position_value=shown.position_value,
            unrealized_pnl=shown.unrealized_pnl, leverage=shown.leverage,
            liquidation_price=shown.liquidation_price, liquidated=kind == "close" and symbol in liquidated,
            ts=state.ts, recv_ts=state.recv_ts))
    return changes
