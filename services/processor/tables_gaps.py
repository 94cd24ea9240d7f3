"""The gaps table (shared/migrations/040_gaps.sql, 093_gap_backfill.sql) as a `Table`: one row per
feed outage, and one per symbol whose trade ids jumped, with what backfill recovered."""

from __future__ import annotations

from services.processor.store import Table
from shared.events import Gap


def gap_row(g: Gap) -> tuple[object, ...]:
    return (g.feed, g.exchange, g.from_ts, g.to_ts, g.reason, g.recv_ts, g.symbol, g.first_missing_id,
            g.last_missing_id, g.status, g.recovered, g.first_recovered_id, g.last_recovered_id)


GAPS = Table(
    name="gaps",
    columns=("feed", "exchange", "from_ts", "to_ts", "reason", "recv_ts", "symbol", "first_missing_id",
             "last_missing_id", "status", "recovered", "first_recovered_id", "last_recovered_id"),
    key=("feed", "symbol", "from_ts"),
    row=gap_row,
    # DO NOTHING: a gap is published once, when it is closed (an outage) or judged (a symbol's)
)
