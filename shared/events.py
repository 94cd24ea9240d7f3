"""Every event tradehub moves, as frozen msgspec Structs in one tagged union.

Prices, sizes and money are Decimal (exchanges send strings; users reconcile to the
last digit). Times are integer microseconds since the epoch, UTC: `ts` is the
exchange's time, `recv_ts` the time our process read the frame. Symbols are
normalized `BASE-QUOTE` (spot) or `BASE-QUOTE-PERP` (perpetuals); `raw_symbol` keeps
the exchange's own. `exchange` is the venue (binance, bybit, ...) for every market of it:
the symbol tells the market, never the exchange name (docs/receivers.md). Each event
names the fields of its identity, so storing it twice changes nothing.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

Side = Literal["buy", "sell"]
Severity = Literal["info", "warning", "critical"]
SCHEMA_VERSION = 1


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag=str.lower, gc=False):
    """Base of all events: exchange time and receive time, both in microseconds.

    gc=False: an event holds only strings, numbers and Decimals, so it can never be part of a
    reference cycle; untracked, the millions a receiver makes cost the garbage collector nothing
    (building one takes half the time)."""

    ts: int
    recv_ts: int


class Trade(Event, frozen=True):
    """A taker trade. Identity: (exchange, symbol, trade_id)."""

    exchange: str
    symbol: str
    raw_symbol: str
    trade_id: str
    price: Decimal
    size: Decimal  # base currency
    side: Side  # taker side
    raw_size: Decimal | None = None  # as the venue quotes it (contracts, USD) when not base
    buyer: str | None = None  # Hyperliquid: buyer address
    seller: str | None = None  # Hyperliquid: seller address
    seq: int | None = None  # Deribit trade_seq: consecutive per instrument, which its trade_id is not


class Candle(Event, frozen=True):
    """An OHLCV bar; `ts` is its open time. Identity: (exchange, symbol, interval, ts, source)."""

    exchange: str
    symbol: str
    raw_symbol: str
    interval: str  # "1m", "5m", ...
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base currency
    trades: int | None = None
    buy_volume: Decimal | None = None
    closed: bool = True
    source: Literal["exchange", "derived"] = "exchange"


class FundingRate(Event, frozen=True):
    """A perpetual's funding rate. Identity: (exchange, symbol, ts)."""

    exchange: str
    symbol: str
    raw_symbol: str
    rate: Decimal  # per interval, as a fraction (0.0001 = 0.01 %)
    interval_hours: Decimal
    annualized: Decimal  # rate * (24 / interval_hours) * 365
    next_funding_ts: int | None = None


class MarkPrice(Event, frozen=True):
    """Mark (and index) price of a derivative. Identity: (exchange, symbol, ts)."""

    exchange: str
    symbol: str
    raw_symbol: str
    mark_price: Decimal
    index_price: Decimal | None = None


class SpotPrice(Event, frozen=True):
    """A spot price from an exchange or an oracle. Identity: (source, exchange, symbol, ts)."""

    exchange: str
    symbol: str
    raw_symbol: str
    price: Decimal
    source: Literal["exchange", "oracle"] = "exchange"


class OpenInterest(Event, frozen=True):
    """Open interest of a perpetual. Identity: (exchange, symbol, ts)."""

    exchange: str
    symbol: str
    raw_symbol: str
    contracts: Decimal  # as the venue counts them
    base: Decimal | None = None  # in base currency
    usd: Decimal | None = None


class Liquidation(Event, frozen=True):
    """A forced order; side is the liquidation ORDER's side (sell = a long was liquidated).

    Identity: (exchange, symbol, ts, side, price, size).
    """

    exchange: str
    symbol: str
    raw_symbol: str
    side: Side
    price: Decimal
    size: Decimal  # base currency
    usd_value: Decimal
    raw_size: Decimal | None = None


class LargeTrade(Event, frozen=True):
    """A trade worth at least the configured USD threshold. Identity as Trade."""

    exchange: str
    symbol: str
    trade_id: str
    price: Decimal
    size: Decimal
    side: Side
    usd_value: Decimal
    threshold: Decimal


OrderStatus = Literal["new", "partially_filled", "filled", "canceled", "expired", "rejected"]
Closing = Literal["", "liquidation", "adl"]  # an order or fill the venue made to close a position


class AccountOrder(Event, frozen=True):
    """A private order update, as the venue's stream or its REST snapshot tells it; `ts` is the
    venue's time of this update. Identity: (exchange, account, order_id, status, filled, ts)."""

    account: str  # the account's id (accounts table), never a key
    exchange: str
    symbol: str
    order_id: str
    side: Side
    price: Decimal | None  # None: a market order
    size: Decimal  # base currency
    filled: Decimal  # cumulative, base currency
    status: OrderStatus
    order_type: str  # the venue's word, lower case: limit, market, stop_market, ...
    client_id: str = ""
    avg_price: Decimal | None = None  # of the filled part
    closing: Closing = ""  # Binance: client id autoclose-... (liquidation) or adl_autoclose (ADL)


class AccountFill(Event, frozen=True):
    """A private fill. Identity: (exchange, account, fill_id)."""

    account: str
    exchange: str
    symbol: str
    order_id: str
    fill_id: str
    side: Side
    price: Decimal
    size: Decimal  # base currency
    fee: Decimal  # paid: > 0 a cost, < 0 a rebate
    fee_asset: str
    realized_pnl: Decimal | None = None  # as the venue reports it, where it does
    closing: Closing = ""


class Balance(Event, frozen=True):
    """An account balance. Identity: (account, exchange, asset, ts)."""

    account: str
    exchange: str
    asset: str
    total: Decimal
    available: Decimal


class Position(Event, frozen=True):
    """A position of one of the user's accounts. Identity: (account, exchange, symbol, ts)."""

    account: str
    exchange: str
    symbol: str
    size: Decimal  # signed: > 0 long, < 0 short
    entry_price: Decimal | None
    mark_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    leverage: Decimal | None = None
    liquidation_price: Decimal | None = None  # where the venue would liquidate it, when it says
    realized_pnl: Decimal | None = None  # realized while this position was open (Lighter)
    funding_paid: Decimal | None = None  # funding paid out over the position's life (Lighter)


class AccountSnapshot(Event, frozen=True):
    """What the venue's REST answered for one account at `ts`: the truth reconciliation compares the
    stored state with (the processor, services/processor/account_reconcile.py). Open orders,
    balances and positions are whole; fills are those since `fills_since` (µs).
    Identity: (exchange, account, ts)."""

    account: str
    exchange: str
    reason: str  # "connect" (after every (re)connect) or "scheduled" (every account_reconcile_s)
    open_orders: list[AccountOrder]
    balances: list[Balance]
    positions: list[Position]
    fills: list[AccountFill]
    fills_since: int


ChangeKind = Literal["open", "close", "increase", "decrease", "flip"]


class PositionChange(Event, frozen=True):
    """A tracked trader's position moved between two snapshots (`ts`: the newer snapshot's time).
    Identity: (account, exchange, symbol, ts). A flip is long to short (or back) in one step;
    `liquidated` marks a close that came with a liquidation fill."""

    account: str  # the trader's address
    exchange: str
    symbol: str
    old_size: Decimal  # signed: > 0 long, < 0 short, 0 none
    new_size: Decimal
    price: Decimal | None = None  # entry price after the change (before it, on a close)
    change: ChangeKind = "open"
    position_value: Decimal | None = None  # USD, after the change (before it, on a close)
    unrealized_pnl: Decimal | None = None
    leverage: Decimal | None = None
    liquidation_price: Decimal | None = None
    liquidated: bool = False


class TraderPosition(msgspec.Struct, frozen=True, gc=False):
    """One coin of a trader's clearinghouse state (Hyperliquid assetPositions[].position)."""

    symbol: str  # normalized, e.g. BTC-USD-PERP
    size: Decimal  # szi, signed
    entry_price: Decimal | None
    position_value: Decimal
    unrealized_pnl: Decimal
    leverage: Decimal | None = None  # leverage.value
    liquidation_price: Decimal | None = None  # liquidationPx (null when none)


class TraderState(Event, frozen=True):
    """A tracked trader's whole perp state at `ts` (the venue's `time`). Identity: (address,
    exchange, ts). The processor diffs it against the stored state into PositionChanges."""

    address: str
    exchange: str
    account_value: Decimal  # marginSummary.accountValue
    notional: Decimal  # marginSummary.totalNtlPos
    positions: tuple[TraderPosition, ...] = ()
    # coverage of the trader's fills as the tracker has read them (traders.fills_complete): None = not
    # read yet; False = truncated, the venue served only its newest 10000 and older ones are lost
    fills_complete: bool | None = None


class TraderFill(Event, frozen=True):
    """A tracked trader's fill (userFillsByTime). Identity: (address, exchange, symbol, tid, ts)."""

    address: str
    exchange: str
    symbol: str
    tid: str  # the venue's trade id
    order_id: str  # oid
    side: Side  # B -> buy, A -> sell
    price: Decimal
    size: Decimal
    start_position: Decimal  # signed size before this fill
    direction: str  # dir: "Open Long", "Close Short", ...
    closed_pnl: Decimal
    fee: Decimal  # negative = rebate
    fee_asset: str
    liquidation: bool = False  # the fill of a liquidation of this trader


class EquityPoint(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One point of a trader's equity curve: time (µs), account value and cumulative PnL (USD)."""

    ts: int
    account_value: Decimal
    pnl: Decimal


class TraderEquity(Event, frozen=True):
    """A trader's equity curve from `portfolio` (allTime: accountValueHistory beside pnlHistory).
    Identity: (address, exchange, point ts) for each point."""

    address: str
    exchange: str
    points: tuple[EquityPoint, ...] = ()


class PortfolioItem(Event, frozen=True):
    """One holding of a portfolio, valued in USD. Identity: (portfolio, asset, ts)."""

    portfolio: str
    asset: str
    amount: Decimal
    usd_value: Decimal


class Spike(Event, frozen=True):
    """An OI or volume z-score over its threshold. Identity: (exchange, symbol, metric, interval, ts)."""

    exchange: str
    symbol: str
    metric: Literal["oi", "volume"]
    interval: str
    value: Decimal
    mean: Decimal
    stdev: Decimal
    z: Decimal
    threshold: Decimal


class Alert(Event, frozen=True):
    """Something a person should hear about; `key` deduplicates. Identity: (key, ts)."""

    source: str
    severity: Severity
    key: str
    title: str
    text: str = ""
    chat: str = ""  # one chat (a user's alert rule names it); "": the chats of its severity


class Heartbeat(Event, frozen=True):
    """A service says it is alive. Identity: (service, instance, ts)."""

    service: str
    instance: str
    started_ts: int
    pid: int


GapStatus = Literal["", "healed", "partial", "unrecoverable"]


class Gap(Event, frozen=True):
    """Trades are missing between from_ts and to_ts. Identity: (feed, symbol, from_ts).

    A socket's outage has no symbol; a symbol's own gap (its trade ids jumped, across an outage or
    without one) names the ids missing and what the venue's REST history gave back
    (docs/backfill.md). status "": an outage whose trades are judged symbol by symbol."""

    feed: str
    exchange: str
    from_ts: int
    to_ts: int
    reason: str = ""
    symbol: str = ""
    first_missing_id: str | None = None
    last_missing_id: str | None = None
    status: GapStatus = ""
    recovered: int = 0  # trades of the gap fetched again and published
    first_recovered_id: str | None = None
    last_recovered_id: str | None = None


class HedgeStatus(Event, frozen=True):
    """One pool's hedge of one asset as a run of the hedge monitor found it (services/general/hedges.py),
    for the alert rules. Identity: (pool, asset, ts)."""

    pool: str
    asset: str
    required: Decimal  # short required, tokens
    hedge: Decimal  # short held, tokens
    drift: Decimal  # hedge - required (> 0: over-hedged)
    drift_pct: Decimal | None = None  # drift / required x 100; None when no short is required
    drift_usd: Decimal | None = None


class StreamLag(Event, frozen=True):
    """A consumer group's backlog on a stream as the stream monitor read it (shared/monitor.py), for the
    alert rules. Identity: (stream, group, ts)."""

    stream: str
    group: str
    lag: int  # unread entries still in the stream
    cap: int  # the stream's MAXLEN


AnyEvent = (
    Trade | Candle | FundingRate | MarkPrice | SpotPrice | OpenInterest | Liquidation | LargeTrade
    | AccountOrder | AccountFill | Balance | Position | AccountSnapshot | PositionChange | PortfolioItem
    | Spike | Alert | Heartbeat | Gap | TraderState | TraderFill | TraderEquity | HedgeStatus | StreamLag
)

# Stream family of each kind: th:<family>.
FAMILY: dict[type[Event], str] = {
    Trade: "trades", Candle: "candles", FundingRate: "funding", MarkPrice: "funding",
    SpotPrice: "prices", OpenInterest: "oi", Liquidation: "liquidations",
    LargeTrade: "large_trades", AccountOrder: "account", AccountFill: "account",
    Balance: "account", Position: "account", AccountSnapshot: "account", PositionChange: "positions",
    PortfolioItem: "positions", Spike: "alerts", Alert: "alerts", Heartbeat: "heartbeats",
    Gap: "gaps", TraderState: "positions", TraderFill: "positions", TraderEquity: "positions",
    HedgeStatus: "status", StreamLag: "status",
}

# Families that are never shed under pressure: the producer waits instead.
NEVER_SHED = frozenset({"account", "positions"})

json_encoder = msgspec.json.Encoder(decimal_format="string")
json_decoder = msgspec.json.Decoder(AnyEvent)
batch_encoder = msgspec.msgpack.Encoder(decimal_format="string")
batch_decoder = msgspec.msgpack.Decoder(list[AnyEvent])


def now_us() -> int:
    """Wall-clock time in integer microseconds (the receive-time clock)."""
    import time

    return time.time_ns() // 1000
