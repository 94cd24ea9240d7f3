"""Funding, spot price and open interest tables (shared/migrations/010_funding_prices_oi.sql) as
`Table`s: rows keyed by each event's identity, so storing an event twice changes nothing."""

from __future__ import annotations

from services.processor.store import Table, checked
from shared.events import FundingRate, OpenInterest, SpotPrice


def funding_row(f: FundingRate) -> tuple[object, ...]:
    return (
        f.exchange,
        f.symbol,
        f.ts,
        f.raw_symbol,
        checked(f.rate, "rate"),
        checked(f.interval_hours, "interval_hours"),
        checked(f.annualized, "annualized"),
        f.next_funding_ts,
        f.recv_ts,
    )


def spot_price_row(p: SpotPrice) -> tuple[object, ...]:
    return (p.source, p.exchange, p.symbol, p.ts, p.raw_symbol, checked(p.price, "price"), p.recv_ts)


def open_interest_row(o: OpenInterest) -> tuple[object, ...]:
    return (
        o.exchange,
        o.symbol,
        o.ts,
        o.raw_symbol,
        checked(o.contracts, "contracts"),
        checked(o.base, "base"),
        checked(o.usd, "usd"),
        o.recv_ts,
    )


FUNDING_RATES = Table(
    name="funding_rates",
    columns=(
        "exchange",
        "symbol",
        "ts",
        "raw_symbol",
        "rate",
        "interval_hours",
        "annualized",
        "next_funding_ts",
        "recv_ts",
    ),
    key=("exchange", "symbol", "ts"),
    row=funding_row,
)
SPOT_PRICES = Table(
    name="spot_prices",
    columns=("source", "exchange", "symbol", "ts", "raw_symbol", "price", "recv_ts"),
    key=("source", "exchange", "symbol", "ts"),
    row=spot_price_row,
)
OPEN_INTEREST = Table(
    name="open_interest",
    columns=("exchange", "symbol", "ts", "raw_symbol", "contracts", "base", "usd", "recv_ts"),
    key=("exchange", "symbol", "ts"),
    row=open_interest_row,
)
