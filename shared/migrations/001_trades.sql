-- Raw trades, partitioned by day on exchange time (microseconds since the epoch) so
-- retention drops whole partitions. The identity (exchange, symbol, trade_id) plus ts
-- (a trade's time never changes) makes a second insert of the same trade a no-op.
CREATE TABLE trades (
    exchange   text    NOT NULL,
    symbol     text    NOT NULL,
    trade_id   text    NOT NULL,
    raw_symbol text    NOT NULL,
    price      numeric NOT NULL,
    size       numeric NOT NULL,
    side       text    NOT NULL CHECK (side IN ('buy', 'sell')),
    raw_size   numeric,
    buyer      text,
    seller     text,
    ts         bigint  NOT NULL,
    recv_ts    bigint  NOT NULL,
    PRIMARY KEY (exchange, symbol, trade_id, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE trades_default PARTITION OF trades DEFAULT;
CREATE INDEX trades_symbol_ts ON trades (exchange, symbol, ts DESC);
CREATE INDEX trades_ts ON trades (ts DESC);
