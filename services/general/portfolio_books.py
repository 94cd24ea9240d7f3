"""From an account's fills and its venue snapshot to portfolio items (pure): which fills make which
holding's book, the holdings the venue reports, and their valuation at a price.

A perpetual position is a holding named by its symbol (BTC-USDT-PERP), its book the fills of that
symbol with signed sizes; a balance is named by its asset, its book the spot fills of that asset
against a dollar (shorting impossible). When the fills do not add up to what the venue holds (fills
older than the stored ones, deposits, transfers), the venue's own entry price is used for a position
(cost_method "venue") and a balance has no known cost (cost_method "none").
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.general.portfolio_prices import DOLLARS, NO_PRICE, Price, base_of
from shared.avg_entry import ZERO, Book, FeeIn, Method, Trade, pnl_pct, replay, unrealized
from shared.decimals import percent
from shared.events import AccountFill, AccountSnapshot

# venues whose collateral balance already holds the positions' unrealized PnL: Hyperliquid's
# marginSummary.accountValue (services/receivers/exchanges/hyperliquid/account.py parse_state;
# https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
# "Retrieve user's perpetuals account summary"). The venue's own unrealized PnL is taken back out,
# so every venue's balance item is its wallet and each position adds its unrealized PnL once.
BALANCE_HOLDS_UNREALIZED = frozenset({"hyperliquid"})


@dataclass(frozen=True)
class Holding:
    asset: str  # balance: the asset; position: its symbol
    quantity: Decimal  # as the venue reports it (signed for positions)
    book: Book | None  # None: the fills do not explain the quantity
    position: bool
    venue_entry: Decimal | None = None
    venue_mark: Decimal | None = None


@dataclass(frozen=True)
class Item:
    """One row of portfolio_items."""

    account: str
    asset: str
    exchange: str
    quantity: Decimal
    avg_entry: Decimal | None
    cost_method: str
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    pnl_pct: Decimal | None
    price: Decimal | None
    price_source: str
    price_age_s: Decimal | None
    value_usd: Decimal | None
    ts: int


def is_perpetual(symbol: str) -> bool:
    return symbol.endswith("-PERP")


def trade_of(fill: AccountFill) -> Trade:
    """A fill as its book sees it: which asset its fee was paid in. A perpetual's fee in the base
    asset (inverse contracts) is valued in quote at the fill's price."""
    parts = fill.symbol.split("-")
    base, quote = parts[0], parts[1] if len(parts) > 1 else ""
    fee = fill.fee
    kind: FeeIn = "quote"
    if fill.fee_asset == base and fee:
        fee, kind = (fee * fill.price, "quote") if is_perpetual(fill.symbol) else (fee, "base")
    elif fill.fee_asset != quote and not (fill.fee_asset in DOLLARS and quote in DOLLARS) and fee:
        kind = "other"
    return Trade(fill.side, fill.price, fill.size, fee, kind)


def merged_fills(stored: Iterable[AccountFill], fresh: Iterable[AccountFill]) -> list[AccountFill]:
    """The stored fills and the snapshot's, each fill id once, oldest first; fills of one moment in
    the order of their ids where the venue numbers them (Binance, Hyperliquid), else as read."""
    seen: dict[str, AccountFill] = {}
    for fill in [*stored, *fresh]:
        seen.setdefault(fill.fill_id, fill)
    return sorted(seen.values(), key=lambda f: (f.ts, int(f.fill_id) if f.fill_id.isdigit() else 0))


def book_key(symbol: str) -> str | None:
    """The holding a fill's symbol moves: the perpetual itself, a spot pair's base asset (against a
    dollar only), None for anything else."""
    if is_perpetual(symbol):
        return symbol
    parts = symbol.split("-")
    return parts[0] if len(parts) == 2 and parts[1] in DOLLARS else None


def books(fills: list[AccountFill], method: Method) -> dict[str, Book]:
    grouped: dict[str, list[Trade]] = {}
    for fill in fills:
        key = book_key(fill.symbol)
        if key is not None:
            grouped.setdefault(key, []).append(trade_of(fill))
    return {key: replay(trades, method, can_short=is_perpetual(key)) for key, trades in grouped.items()}


def holdings(snapshot: AccountSnapshot, found: Mapping[str, Book]) -> list[Holding]:
    """Every position and balance the venue reports, and every book the fills closed (quantity 0,
    kept for its realized PnL)."""
    held: list[Holding] = []
    venue_unrealized = ZERO
    for p in snapshot.positions:
        book = found.get(p.symbol)
        venue_unrealized += p.unrealized_pnl or ZERO
        held.append(Holding(p.symbol, p.size, book if book is not None and book.quantity == p.size else None,
                            True, p.entry_price, p.mark_price))
    for b in snapshot.balances:
        total = b.total
        if snapshot.exchange in BALANCE_HOLDS_UNREALIZED and b.asset in DOLLARS:
            total -= venue_unrealized
        book = found.get(b.asset)
        matched = book if book is not None and book.quantity == total else None
        held.append(Holding(b.asset, total, matched, False))
    named = {h.asset for h in held}
    held += [Holding(key, ZERO, book, is_perpetual(key)) for key, book in sorted(found.items())
             if key not in named and not book.quantity]
    return held


def valued(holding: Holding, price: Price, method: Method, account: str, exchange: str, ts: int) -> Item:
    """The item of a holding at `price`: a position is worth its unrealized PnL, a balance its value."""
    book, qty, at = holding.book, holding.quantity, price.value
    realized = book.realized if book is not None else ZERO
    upnl: Decimal | None = None
    pct: Decimal | None = None
    entry: Decimal | None = None
    cost_method = "none"
    if book is not None and qty:
        entry, cost_method = book.avg_entry, method
        upnl = unrealized(book, at) if at is not None else None
        pct = pnl_pct(book, at) if at is not None else None
    elif book is not None:
        cost_method = method
    elif holding.position and holding.venue_entry:
        entry, cost_method = holding.venue_entry, "venue"
        if at is not None:
            upnl = (at - entry) * qty
            pct = percent(upnl, entry * abs(qty))
    if holding.position:
        value = upnl if qty else ZERO
    else:
        value = qty * at if at is not None else (ZERO if not qty else None)
    if not qty and price is NO_PRICE:
        value = ZERO
    return Item(account, holding.asset, exchange, qty, entry, cost_method, realized, upnl, pct, at,
                price.source, price.age_s, value, ts)


def needs_price(holding: Holding) -> bool:
    return bool(holding.quantity)


def base_assets(items: Iterable[Holding]) -> list[str]:
    return sorted({base_of(h.asset) for h in items})
