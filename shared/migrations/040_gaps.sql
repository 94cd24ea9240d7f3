-- Where market data is missing: every outage of a websocket feed (disconnect, idle socket,
-- planned reconnect, restart of the receivers) from the last data before it to the first data
-- after it. Times are microseconds since the epoch, UTC. Keyed by the Gap event's identity
-- (feed, from_ts), so a redelivered event changes nothing.
CREATE TABLE gaps (
    feed     text   NOT NULL,  -- one socket: binance:0, okx:business:0, ...
    exchange text   NOT NULL,  -- the feed's venue: binance, binance_spot, bybit, bybit_spot, okx, hyperliquid, deribit
    from_ts  bigint NOT NULL,  -- receive time of the last data frame before the outage
    to_ts    bigint NOT NULL,  -- receive time of the first data frame after it
    reason   text   NOT NULL DEFAULT '',  -- why the first session ended: idle, closed, planned, restart, ...
    recv_ts  bigint NOT NULL,
    PRIMARY KEY (feed, from_ts)
);
-- /api/v1/gaps reads the newest first, optionally per venue
CREATE INDEX gaps_from_ts ON gaps (from_ts DESC);
CREATE INDEX gaps_exchange_from_ts ON gaps (exchange, from_ts DESC);
