-- The portfolio sync (services/general/portfolio.py, docs/portfolio.md): each account's holdings with
-- their average entry and PnL computed from its fills, and the portfolio's value over time.
-- Times are microseconds since the epoch, UTC; money is exact NUMERIC. (The PortfolioItem event of
-- th:positions is a tracked portfolio's holding and is not stored: these tables are the user's own.)

-- The latest of each holding: a balance (asset: USDT, BTC ...) or a perpetual position (asset: its
-- symbol, BTC-USDT-PERP); a holding the venue no longer reports is deleted at the next sync.
CREATE TABLE portfolio_items (
    account        text    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    asset          text    NOT NULL,
    exchange       text    NOT NULL,
    quantity       numeric NOT NULL,                 -- signed for positions: > 0 long, < 0 short
    avg_entry      numeric,                          -- NULL: no cost known (a stablecoin, no fills)
    cost_method    text    NOT NULL CHECK (cost_method IN ('average', 'fifo', 'venue', 'none')),
    realized_pnl   numeric NOT NULL,                 -- from the fills, less the quote fees paid
    unrealized_pnl numeric,                          -- at `price`; NULL without a price or an entry
    pnl_pct        numeric,                          -- unrealized PnL / cost of the open quantity x 100
    price          numeric,                          -- USD per unit; NULL when no price was found
    price_source   text    NOT NULL,                 -- spot_prices:<exchange>, candles:<exchange>, venue_mark,
                                                     -- ticker:<venue>, par, none
    price_age_s    numeric,                          -- how old the price was at the sync
    value_usd      numeric,                          -- balance: quantity x price; position: unrealized PnL
    ts             bigint  NOT NULL,                 -- the sync's time
    PRIMARY KEY (account, asset)
);

-- One row per account and sync: its total value (balances plus positions' unrealized PnL), for a chart.
CREATE TABLE portfolio_snapshots (
    account   text    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    ts        bigint  NOT NULL,
    value_usd numeric NOT NULL,
    priced    boolean NOT NULL DEFAULT true,         -- false: some holding had no price (left out)
    PRIMARY KEY (account, ts)
);
CREATE INDEX portfolio_snapshots_ts ON portfolio_snapshots (ts DESC);
