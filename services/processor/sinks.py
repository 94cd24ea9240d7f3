"""Which stream family is stored where: family -> {event kind: table}."""
from __future__ import annotations

from services.processor.store import TRADES, Table
from shared.events import Event, Trade

# One consumer group per family; each family's events land in these tables.
STORED_FAMILIES: dict[str, dict[type[Event], Table]] = {
    "trades": {Trade: TRADES},
}
