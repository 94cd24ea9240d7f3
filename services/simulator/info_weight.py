"""Hyperliquid's REST weight, counted per client over a rolling minute, as the venue counts it per IP.

https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits:
"REST requests share an aggregated weight limit of 1200 per minute"; info requests weigh 2 (l2Book,
allMids, clearinghouseState, orderStatus, spotClearinghouseState, exchangeStatus), 60 (userRole)
or 20 (every other documented one: meta, metaAndAssetCtxs, portfolio, userFills, userFillsByTime...),
and some "have an additional rate limit weight per 20 items returned in the response".

A client is the X-Client header when the request has one (tests and benches telling several
clients apart on one address), else the remote address, as the venue's per-IP budget is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

LIMIT_PER_MINUTE = 1200
WINDOW_S = 60.0
WEIGHT_DEFAULT = 20  # "All other documented info requests have weight 20"
WEIGHTS = {
    "l2Book": 2, "allMids": 2, "clearinghouseState": 2, "orderStatus": 2, "spotClearinghouseState": 2,
    "exchangeStatus": 2, "userRole": 60,
}
# Requests that add weight per 20 items returned. The page does not say how much each 20 add: +1 is
# the assumption (also ccxt's and df-hyperliquid-core's), so a full 2000-fill page weighs 20 + 100.
PER_ITEMS = {
    "recentTrades", "historicalOrders", "userFills", "userFillsByTime", "fundingHistory", "userFunding",
    "nonUserFundingUpdates", "twapHistory", "userTwapSliceFills", "userTwapSliceFillsByTime",
    "delegatorHistory", "delegatorRewards", "validatorStats",
}
ITEMS_PER_EXTRA = 20
EXTRA_PER_STEP = 1  # assumed, see above


def base_weight(kind: str) -> int:
    """The weight of an info request of this type before counting what it returns."""
    return WEIGHTS.get(kind, WEIGHT_DEFAULT)


def extra_weight(kind: str, items: int) -> int:
    """The weight added by the items returned: +1 per whole 20 for the types that count them."""
    return items // ITEMS_PER_EXTRA * EXTRA_PER_STEP if kind in PER_ITEMS else 0


@dataclass
class ClientWeight:
    spent: deque[tuple[float, int]] = field(default_factory=deque)  # (when, weight) in the last minute
    minute: int = 0  # the sum of `spent`
    highest: int = 0  # the highest rolling minute seen
    total: int = 0
    requests: int = 0
    refused: int = 0


class WeightMeter:
    """Weight used per client in the rolling minute; refuses what would take a client past the limit.

    The venue does not say whether a refused request counts; here it does not, so a client that
    waits for its minute to roll on is served again."""

    def __init__(self, clock: Callable[[], float], limit: int = LIMIT_PER_MINUTE) -> None:
        self.clock = clock
        self.limit = limit
        self.clients: dict[str, ClientWeight] = {}

    def _client(self, name: str) -> ClientWeight:
        client = self.clients.setdefault(name, ClientWeight())
        horizon = self.clock() - WINDOW_S
        while client.spent and client.spent[0][0] <= horizon:
            client.minute -= client.spent.popleft()[1]
        return client

    def spend(self, name: str, weight: int) -> bool:
        """Count a request's whole weight (its own plus the extra for what it returns) now, unless
        that takes the client's rolling minute past the limit: then False, and nothing is counted."""
        client = self._client(name)
        if client.minute + weight > self.limit:
            client.refused += 1
            return False
        client.requests += 1
        client.spent.append((self.clock(), weight))
        client.minute += weight
        client.total += weight
        client.highest = max(client.highest, client.minute)
        return True

    def used(self, name: str) -> int:
        """The client's weight in the current rolling minute."""
        return self._client(name).minute

    def stats(self) -> dict[str, object]:
        clients = {
            name: {"minute": self._client(name).minute, "highest": c.highest, "total": c.total,
                   "requests": c.requests, "refused": c.refused}
            for name, c in self.clients.items()
        }
        return {"limit": self.limit, "window_s": WINDOW_S,
                "highest": max((c.highest for c in self.clients.values()), default=0), "clients": clients}
