-- Trader discovery counts each Hyperliquid trade once: the identity (coin, tid, time) of every
-- trade already folded into traders.trades_seen / volume_seen, inserted in the same transaction
-- as the counts, so a redelivered or replayed trade (the venue resends ~30 on every subscribe)
-- finds its row and is not counted again. `hash` is no identity: it can be all zeros.
-- Kept for a horizon behind the newest trade (services/processor/trader_discovery.py); a trade
-- older than that horizon is not counted at all, so pruning never lets one count twice.
CREATE TABLE trader_trades_counted (
    ts       bigint NOT NULL,                     -- trade time, µs (Hyperliquid `time`)
    symbol   text   NOT NULL,                     -- normalized coin, e.g. BTC-USD-PERP
    trade_id text   NOT NULL,                     -- Hyperliquid `tid`
    PRIMARY KEY (ts, symbol, trade_id)            -- time first: inserts at the right edge, pruning by range
);
