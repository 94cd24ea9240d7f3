-- Market analytics: candles (the exchanges' klines and our own, derived from trades),
-- liquidations, large trades and OI/volume spikes. Times are microseconds since the
-- epoch, UTC; money, prices and sizes are exact NUMERIC.

-- A candle's identity is (exchange, symbol, interval, source, ts): an exchange kline and
-- the candle we derive from the same venue's trades live side by side. `ts` is the open
-- time; derived rollups (5m ... 1d) open on UTC boundaries. A late trade rewrites its
-- derived candle in place (upsert), so the row is always the fold of every trade seen.
CREATE TABLE candles (
    exchange   text    NOT NULL,
    symbol     text    NOT NULL,
    interval   text    NOT NULL,
    source     text    NOT NULL CHECK (source IN ('exchange', 'derived')),
    ts         bigint  NOT NULL,
    raw_symbol text    NOT NULL,
    open       numeric NOT NULL,
    high       numeric NOT NULL,
    low        numeric NOT NULL,
    close      numeric NOT NULL,
    volume     numeric NOT NULL,  -- base currency
    trades     bigint,            -- trade count (derived; some venues send it too)
    buy_volume numeric,           -- taker-buy volume, base currency
    closed     boolean NOT NULL,
    recv_ts    bigint  NOT NULL,
    PRIMARY KEY (exchange, symbol, interval, source, ts)
);
-- the multi-exchange candle reads one symbol across venues
CREATE INDEX candles_symbol_interval_ts ON candles (symbol, interval, source, ts DESC);

-- Forced orders; side is the liquidation ORDER's side (sell = a long was liquidated).
CREATE TABLE liquidations (
    exchange   text    NOT NULL,
    symbol     text    NOT NULL,
    raw_symbol text    NOT NULL,
    side       text    NOT NULL CHECK (side IN ('buy', 'sell')),
    price      numeric NOT NULL,
    size       numeric NOT NULL,  -- base currency
    usd_value  numeric NOT NULL,
    raw_size   numeric,
    ts         bigint  NOT NULL,
    recv_ts    bigint  NOT NULL,
    PRIMARY KEY (exchange, symbol, ts, side, price, size)
);
CREATE INDEX liquidations_ts ON liquidations (ts DESC);
CREATE INDEX liquidations_symbol_ts ON liquidations (symbol, ts DESC);

-- Trades worth at least their symbol's USD threshold (the threshold is kept with them).
CREATE TABLE large_trades (
    exchange  text    NOT NULL,
    symbol    text    NOT NULL,
    trade_id  text    NOT NULL,
    price     numeric NOT NULL,
    size      numeric NOT NULL,
    side      text    NOT NULL CHECK (side IN ('buy', 'sell')),
    usd_value numeric NOT NULL,
    threshold numeric NOT NULL,
    ts        bigint  NOT NULL,
    recv_ts   bigint  NOT NULL,
    PRIMARY KEY (exchange, symbol, trade_id, ts)
);
CREATE INDEX large_trades_ts ON large_trades (ts DESC);
CREATE INDEX large_trades_symbol_ts ON large_trades (symbol, ts DESC);

-- A z-score over its interval's threshold; ts is the open time of the bar that spiked.
CREATE TABLE spikes (
    exchange  text    NOT NULL,
    symbol    text    NOT NULL,
    metric    text    NOT NULL CHECK (metric IN ('oi', 'volume')),
    interval  text    NOT NULL,
    ts        bigint  NOT NULL,
    value     numeric NOT NULL,
    mean      numeric NOT NULL,
    stdev     numeric NOT NULL,
    z         numeric NOT NULL,
    threshold numeric NOT NULL,
    recv_ts   bigint  NOT NULL,
    PRIMARY KEY (exchange, symbol, metric, interval, ts)
);
CREATE INDEX spikes_ts ON spikes (ts DESC);
