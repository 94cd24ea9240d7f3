-- Hyperliquid traders: found in the public trades feed, tracked by REST within the venue's
-- weight budget, ranked. Times are microseconds since the epoch, UTC; money is NUMERIC (USD).

-- Every address seen as buyer or seller of a trade (discovery), with what tracking learnt.
CREATE TABLE traders (
    address        text    PRIMARY KEY,           -- 0x + 40 hex, lower case
    exchange       text    NOT NULL DEFAULT 'hyperliquid',
    first_seen     bigint  NOT NULL,              -- time of the first trade seen
    last_seen      bigint  NOT NULL,              -- time of the latest trade seen
    trades_seen    bigint  NOT NULL DEFAULT 0,
    volume_seen    numeric NOT NULL DEFAULT 0,    -- notional USD of the trades seen
    tracked_since  bigint,                        -- first clearinghouseState stored; NULL: never tracked
    last_tracked   bigint,                        -- newest clearinghouseState stored
    account_value  numeric,                       -- from the newest state
    notional       numeric,                       -- totalNtlPos of the newest state
    fills_from     bigint,                        -- the oldest fill time stored
    fills_until    bigint,                        -- fills are stored up to this time
    fills_complete boolean NOT NULL DEFAULT false,-- false: the venue served only the newest fills (truncated)
    equity_until   bigint,                        -- newest equity point stored
    watched        boolean NOT NULL DEFAULT false,
    watch_min_usd  numeric NOT NULL DEFAULT 0     -- watched: changes under this position value are not alerted
);
-- the tracker's fair rotation: never tracked first, then the least recently tracked
CREATE INDEX traders_rotation ON traders (last_tracked ASC NULLS FIRST);
CREATE INDEX traders_watched ON traders (address) WHERE watched;

-- The current positions of every tracked trader: the state the next snapshot is diffed against.
CREATE TABLE trader_positions (
    address           text    NOT NULL,
    symbol            text    NOT NULL,
    size              numeric NOT NULL,           -- signed: > 0 long, < 0 short
    entry_price       numeric,
    position_value    numeric NOT NULL,
    unrealized_pnl    numeric NOT NULL,
    leverage          numeric,
    liquidation_price numeric,
    ts                bigint  NOT NULL,           -- the snapshot this row comes from
    PRIMARY KEY (address, symbol)
);

-- Every change found between two snapshots: open, close, increase, decrease, flip.
CREATE TABLE position_changes (
    address           text    NOT NULL,
    exchange          text    NOT NULL,
    symbol            text    NOT NULL,
    ts                bigint  NOT NULL,           -- the newer snapshot's time
    change            text    NOT NULL,
    old_size          numeric NOT NULL,
    new_size          numeric NOT NULL,
    entry_price       numeric,
    position_value    numeric,
    unrealized_pnl    numeric,
    leverage          numeric,
    liquidation_price numeric,
    liquidated        boolean NOT NULL DEFAULT false,
    recv_ts           bigint  NOT NULL,
    PRIMARY KEY (address, symbol, ts)
);
CREATE INDEX position_changes_ts ON position_changes (ts DESC);

-- Fills of tracked traders (userFillsByTime), paged by time.
CREATE TABLE trader_fills (
    address        text    NOT NULL,
    exchange       text    NOT NULL,
    symbol         text    NOT NULL,
    tid            text    NOT NULL,
    ts             bigint  NOT NULL,
    order_id       text    NOT NULL,
    side           text    NOT NULL,
    price          numeric NOT NULL,
    size           numeric NOT NULL,
    start_position numeric NOT NULL,
    direction      text    NOT NULL,
    closed_pnl     numeric NOT NULL,
    fee            numeric NOT NULL,
    fee_asset      text    NOT NULL,
    liquidation    boolean NOT NULL DEFAULT false,
    recv_ts        bigint  NOT NULL,
    PRIMARY KEY (address, symbol, tid, ts)
);
CREATE INDEX trader_fills_address_ts ON trader_fills (address, ts DESC);

-- Equity curves from `portfolio` (allTime): account value and cumulative PnL over time.
CREATE TABLE trader_equity (
    address       text    NOT NULL,
    ts            bigint  NOT NULL,
    account_value numeric NOT NULL,
    pnl           numeric NOT NULL,
    PRIMARY KEY (address, ts)
);

-- Leaderboard snapshots: one row per ranked trader per run, so a rank can be shown over time.
CREATE TABLE leaderboard (
    ts             bigint  NOT NULL,              -- when the run ranked
    address        text    NOT NULL,
    rank           integer NOT NULL,
    score          numeric NOT NULL,
    age_days       numeric NOT NULL,
    volume         numeric NOT NULL,
    realized_pnl   numeric NOT NULL,
    roi            numeric,
    win_rate       numeric,
    risk_ratio     numeric,
    max_drawdown   numeric,
    sharpe         numeric,
    closed_trades  integer NOT NULL,
    tracked_since  bigint,
    fills_complete boolean NOT NULL,              -- coverage: false when the history is truncated
    PRIMARY KEY (ts, address)
);
CREATE INDEX leaderboard_address_ts ON leaderboard (address, ts DESC);
