-- The user's own exchange accounts: credentials sealed with the master key, what their private
-- streams and REST snapshots tell, the differences reconciliation found, and tradehub's API keys.
-- Times are microseconds since the epoch, UTC; money is NUMERIC, as the venue sent it.

-- One row per account. `sealed` is AES-256-GCM (12-byte nonce || ciphertext || tag) of the
-- credentials, with the account's id and exchange as associated data: a row copied onto another
-- account does not decrypt. NULL for an account read by address alone (Hyperliquid).
CREATE TABLE accounts (
    id         text    PRIMARY KEY,                  -- the user's name for it: [a-z0-9][a-z0-9_-]{0,39}
    exchange   text    NOT NULL,
    scope      text    NOT NULL CHECK (scope IN ('read', 'trade')),
    address    text,                                 -- Hyperliquid: the address read
    sealed     bytea,
    alerts     jsonb   NOT NULL DEFAULT '{}',         -- per-account alert settings (docs/accounts.md)
    created_at bigint  NOT NULL,
    updated_at bigint  NOT NULL,
    CHECK (sealed IS NOT NULL OR address IS NOT NULL)
);

-- Orders: the latest of each, and every status it went through.
CREATE TABLE account_orders (
    exchange   text    NOT NULL,
    account    text    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    order_id   text    NOT NULL,
    client_id  text    NOT NULL DEFAULT '',
    symbol     text    NOT NULL,
    side       text    NOT NULL,
    order_type text    NOT NULL,
    price      numeric,
    avg_price  numeric,
    size       numeric NOT NULL,
    filled     numeric NOT NULL,
    status     text    NOT NULL,
    closing    text    NOT NULL DEFAULT '',          -- liquidation / adl: the venue closed a position
    ts         bigint  NOT NULL,                     -- the venue's time of the latest update
    recv_ts    bigint  NOT NULL,
    PRIMARY KEY (exchange, account, order_id)
);
CREATE INDEX account_orders_open ON account_orders (account, exchange)
    WHERE status IN ('new', 'partially_filled');

CREATE TABLE account_order_history (
    exchange   text    NOT NULL,
    account    text    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    order_id   text    NOT NULL,
    status     text    NOT NULL,
    filled     numeric NOT NULL,
    ts         bigint  NOT NULL,
    recv_ts    bigint  NOT NULL,
    PRIMARY KEY (exchange, account, order_id, status, filled, ts)
);

CREATE TABLE account_fills (
    exchange     text    NOT NULL,
    account      text    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    fill_id      text    NOT NULL,
    order_id     text    NOT NULL,
    symbol       text    NOT NULL,
    side         text    NOT NULL,
    price        numeric NOT NULL,
    size         numeric NOT NULL,
    fee          numeric NOT NULL,
    fee_asset    text    NOT NULL,
    realized_pnl numeric,
    closing      text    NOT NULL DEFAULT '',
    ts           bigint  NOT NULL,
    recv_ts      bigint  NOT NULL,
    PRIMARY KEY (exchange, account, fill_id)
);
CREATE INDEX account_fills_time ON account_fills (account, ts DESC);

-- Balances and positions: the latest (a position of size 0 is deleted) and their history.
CREATE TABLE account_balances (
    exchange  text    NOT NULL,
    account   text    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    asset     text    NOT NULL,
    total     numeric NOT NULL,
    available numeric NOT NULL,
    ts        bigint  NOT NULL,
    PRIMARY KEY (exchange, account, asset)
);
CREATE TABLE account_balance_history (LIKE account_balances INCLUDING DEFAULTS);
ALTER TABLE account_balance_history ADD PRIMARY KEY (exchange, account, asset, ts);
ALTER TABLE account_balance_history
    ADD FOREIGN KEY (account) REFERENCES accounts (id) ON DELETE CASCADE;

CREATE TABLE account_positions (
    exchange       text    NOT NULL,
    account        text    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    symbol         text    NOT NULL,
    size           numeric NOT NULL,                 -- signed: > 0 long, < 0 short
    entry_price    numeric,
    mark_price     numeric,
    unrealized_pnl numeric,
    leverage       numeric,
    ts             bigint  NOT NULL,
    PRIMARY KEY (exchange, account, symbol)
);
CREATE TABLE account_position_history (LIKE account_positions INCLUDING DEFAULTS);
ALTER TABLE account_position_history ADD PRIMARY KEY (exchange, account, symbol, ts);
ALTER TABLE account_position_history
    ADD FOREIGN KEY (account) REFERENCES accounts (id) ON DELETE CASCADE;

-- Every difference a reconciliation found between the stored state and the venue's snapshot,
-- and what it did about it: how often the caches were wrong, per account and kind.
CREATE TABLE account_differences (
    exchange text   NOT NULL,
    account  text   NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    ts       bigint NOT NULL,                        -- the snapshot's time
    kind     text   NOT NULL,                        -- missed_fill, order, balance, position
    item     text   NOT NULL,                        -- fill id, order id, asset or symbol
    stored   text   NOT NULL,                        -- what we held ('' when nothing)
    venue    text   NOT NULL,                        -- what the venue said ('' when nothing)
    PRIMARY KEY (exchange, account, ts, kind, item)
);

-- tradehub's own API keys: only a SHA-256 of each secret is kept; `id` is the key's public prefix.
CREATE TABLE api_keys (
    id         text    PRIMARY KEY,
    name       text    NOT NULL DEFAULT '',
    hash       bytea   NOT NULL,
    scopes     text[]  NOT NULL,
    created_at bigint  NOT NULL,
    revoked_at bigint
);
