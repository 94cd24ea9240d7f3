-- What the REST pollers (and the feeds that carry the same kinds) publish on th:funding, th:prices
-- and th:oi. Times are microseconds since the epoch, UTC; rates, prices and sizes are exact NUMERIC.
-- Each table is keyed by its event's identity (shared/events.py), so a redelivered event is a no-op.
-- A few rows per venue, symbol and minute: plain tables, no daily partitions.

-- Funding history: one row per observation of a perpetual's funding rate.
CREATE TABLE funding_rates (
    exchange        text    NOT NULL,
    symbol          text    NOT NULL,  -- BASE-QUOTE-PERP
    ts              bigint  NOT NULL,  -- the venue's time, or our receive time when it sends none
    raw_symbol      text    NOT NULL,
    rate            numeric NOT NULL,  -- per funding interval, a fraction (0.0001 = 0.01 %)
    interval_hours  numeric NOT NULL CHECK (interval_hours > 0),
    annualized      numeric NOT NULL,  -- rate * (24 / interval_hours) * 365
    next_funding_ts bigint,
    recv_ts         bigint  NOT NULL,
    PRIMARY KEY (exchange, symbol, ts)
);
-- the spread reads one symbol's latest row per venue
CREATE INDEX funding_rates_symbol_ts ON funding_rates (symbol, ts DESC);

-- Spot prices from exchanges (last trade) and oracles (Pyth, Jupiter).
CREATE TABLE spot_prices (
    source     text    NOT NULL CHECK (source IN ('exchange', 'oracle')),
    exchange   text    NOT NULL,
    symbol     text    NOT NULL,  -- BASE-QUOTE
    ts         bigint  NOT NULL,
    raw_symbol text    NOT NULL,  -- the venue's symbol, a Solana mint, or a Pyth feed id
    price      numeric NOT NULL,
    recv_ts    bigint  NOT NULL,
    PRIMARY KEY (source, exchange, symbol, ts)
);
CREATE INDEX spot_prices_symbol_ts ON spot_prices (symbol, ts DESC);

-- Open interest of perpetuals: as the venue counts it, in base currency and in USD where known.
CREATE TABLE open_interest (
    exchange   text    NOT NULL,
    symbol     text    NOT NULL,  -- BASE-QUOTE-PERP
    ts         bigint  NOT NULL,
    raw_symbol text    NOT NULL,
    contracts  numeric NOT NULL,
    base       numeric,
    usd        numeric,
    recv_ts    bigint  NOT NULL,
    PRIMARY KEY (exchange, symbol, ts)
);
CREATE INDEX open_interest_symbol_ts ON open_interest (symbol, ts DESC);
