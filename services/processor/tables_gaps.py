"""The gaps table (shared/migrations/040_gaps.sql) as a `Table`: one row per feed outage."""

from __future__ import annotations

from services.processor.store import Table
from shared.events import Gap


def gap_row(g: Gap) -> tuple[object, ...]:
    return (g.feed, g.exchange, g.from_ts, g.to_ts, g.reason, g.recv_ts)


GAPS = Table(
    name="gaps",
    columns=("feed", "exchange", "from_ts", "to_ts", "reason", "recv_ts"),
    key=("feed", "from_ts"),
    row=gap_row,
    # DO NOTHING: a (feed, from_ts) outage has one end, and a batch may hold a redelivered copy of it
)
