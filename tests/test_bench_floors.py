"""The yardstick of the normalize benchmark (bench/floors.py) does what the events' contract asks
of every parse: on the simulator's trade frames its trades carry the very figures the receivers'
parse gives (OKX's size aside: the floor multiplies by one contract value for every symbol)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import floors  # noqa: E402
import receivers  # noqa: E402

from shared.config import Settings  # noqa: E402


@pytest.mark.parametrize("venue", sorted(floors.FLOORS))
def test_the_floor_gives_the_parse_s_figures(venue: str, settings: Settings) -> None:
    frames = receivers.trade_frames(venue, 400, settings)
    ours = [trade for raw in frames for trade in receivers.parse_of(venue)(raw, 0)]
    floor = [trade for raw in frames for trade in floors.FLOORS[venue](raw)]
    assert len(ours) == len(floor) > 0

    def figures(trade: object, size: bool) -> tuple[object, ...]:
        fields = ("trade_id", "price", "side", "ts", "seq", "buyer", "seller")
        return (*(getattr(trade, name) for name in fields), trade.size if size else None)  # type: ignore[attr-defined]

    with_size = venue != "okx"
    assert [figures(t, with_size) for t in floor] == [figures(t, with_size) for t in ours]
    if venue in ("okx", "deribit"):
        assert [t.raw_size for t in floor] == [t.raw_size for t in ours]
