"""OKX REST trade history paged by trade id: the trades a socket missed across an outage, in the shape
the trades channel gives them (same tradeId and time, swap contracts times ctVal).

OKX documents tradeId as a "Trade ID" and nothing more: no promise that ids of an instrument count
up by one, so a jump in them is no gap; only an outage or a restart opens a window, the ids strictly
between the last trade seen and the first after it.
  GET /api/v5/market/history-trades?instId=&type=1&after=&before=&limit=
  https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-trades-history
  "the recent transactions of an instrument from the last 3 months with pagination"; type 1 pages by
  tradeId: after = "records earlier than the requested tradeId", before = "records newer than the
  requested tradeId"; limit "The maximum and default both are 100"; newest first.
  Rate limit: 20 requests per 2 seconds per IP (inside the client's 600 a minute, market.py).
The trades channel sends one trade per taker order and price (tradeId = the last match's, `count`
matches); the backfill leaves out the matches of the trade that closed the window (backfill.py).
"""

from __future__ import annotations

import msgspec

from services.receivers.backfill_sequence import Page, page_of
from services.receivers.exchanges.okx.market import NAME, RestEnvelope, WsTrade, trade_of
from services.receivers.frames import FrameError, decode
from services.receivers.rest import VenueClient
from services.receivers.venue import Facts
from shared.events import Trade, now_us

__all__ = ["NAME", "PAGE_LIMIT", "fetch_window", "parse_history_trades"]

PAGE_LIMIT = 100  # "The maximum and default both are 100"
MOST_PAGES = 1000  # one window: 100,000 trades at most (backfill_max_trades' default)

_history = msgspec.json.Decoder(RestEnvelope[WsTrade], strict=False)  # numbers are strings


def parse_history_trades(raw: bytes) -> list[WsTrade]:
    """history-trades -> its rows, newest first.

    {"code":"0","msg":"","data":[{"instId":"BTC-USDT","side":"sell","sz":"0.00001","px":"29963.2",
     "tradeId":"242720720","ts":"1654161646974"}]}
    """
    answer = decode(_history, raw)
    if answer.code != "0":
        raise FrameError(f"okx code {answer.code}: {answer.msg}")
    return answer.data


async def fetch_window(client: VenueClient, facts: Facts, inst_id: str, first: int, last: int,
                       limit: int) -> Page:
    """Every trade with first <= tradeId <= last, oldest first: pages from the newest back, each the
    newest 100 of what is left, until one comes back short or reaches `first`."""
    keyed: list[tuple[int, Trade]] = []
    newer_than, older_than = first - 1, last + 1
    for _ in range(MOST_PAGES):
        params = {"instId": inst_id, "type": "1", "after": str(older_than), "before": str(newer_than),
                  "limit": str(PAGE_LIMIT)}
        rows = parse_history_trades(await client.get("/api/v5/market/history-trades", params))
        recv_ts = now_us()
        page = [(int(row.tradeId), trade_of(row, recv_ts, facts)) for row in rows]
        keyed += [(key, trade) for key, trade in page if first <= key <= last]
        if len(rows) < PAGE_LIMIT or not page or min(key for key, _ in page) <= first:
            return page_of(sorted(keyed, key=lambda row: row[0]), first, last, complete=True)
        older_than = min(key for key, _ in page)
    raise FrameError(f"okx history of {inst_id}: more than {MOST_PAGES} pages between {first} and {last}")
