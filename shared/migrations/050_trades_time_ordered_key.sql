-- Trades arrive in time order, so a primary key that follows time, (exchange, symbol, ts, trade_id),
-- takes each insert at the right edge of the index instead of at scattered pages (trade ids sort as
-- text), and it serves "one symbol's trades by time" on its own, so trades_symbol_ts goes. Storing
-- got about twice as fast (docs/benchmarks.md). Same columns, so the same identity and ON CONFLICT target.
ALTER TABLE trades DROP CONSTRAINT trades_pkey;
ALTER TABLE trades ADD CONSTRAINT trades_pkey PRIMARY KEY (exchange, symbol, ts, trade_id);
DROP INDEX IF EXISTS trades_symbol_ts;
