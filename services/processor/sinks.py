"""Which stream family is stored where: family -> {event kind: table}."""
from __future__ import annotations

from services.processor.store import TRADES, AnyTable
from services.processor.tables_analytics import LIQUIDATIONS
from services.processor.tables_gaps import GAPS
from services.processor.tables_market import FUNDING_RATES, OPEN_INTEREST, SPOT_PRICES
from shared.events import Event, FundingRate, Gap, Liquidation, OpenInterest, SpotPrice, Trade

# One consumer group per family; each family's events land in these tables.
STORED_FAMILIES: dict[str, dict[type[Event], AnyTable]] = {
    "trades": {Trade: TRADES},
    "liquidations": {Liquidation: LIQUIDATIONS},
    # funding history, spot prices, open interest (REST pollers and feeds); MarkPrice is not stored
    "funding": {FundingRate: FUNDING_RATES},
    "prices": {SpotPrice: SPOT_PRICES},
    "oi": {OpenInterest: OPEN_INTEREST},
    "gaps": {Gap: GAPS},  # feed outages (services/receivers/connection.py), served by /api/v1/gaps
    # "candles": stored by the analytics group (services/processor/analytics.py): exchange klines only,
    # since derived candles on th:candles are written by the candle builder itself.
}
