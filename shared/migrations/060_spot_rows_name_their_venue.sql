-- An event's exchange is its venue (binance, bybit, ...); the normalized symbol tells the market
-- (BTC-USDT spot, BTC-USDT-PERP perpetual), as Bybit spot rows already say. Binance spot rows were
-- stored as exchange 'binance_spot', and the gaps of both venues' spot sockets as 'binance_spot' and
-- 'bybit_spot' (the feed name, e.g. binance_spot:0, still names the socket). This renames them.
--
-- A renamed row cannot meet a row of the perpetual market: its symbol has no -PERP. It meets a
-- 'binance' row of its own identity only if the same event was stored under both names (entries of
-- an older receivers process stored beside a newer one's); then the 'binance' row is kept (for a
-- derived candle or spike, the newer fold) and the old one deleted first, so the rename never
-- violates a key: plain statements, no ON CONFLICT. Safe to run again (psql -f, search_path on the
-- schema) after a processor stored older entries still in the streams past this migration.

-- trades: identity (exchange, symbol, ts, trade_id); the update reaches every daily partition
DELETE FROM trades AS old
WHERE old.exchange = 'binance_spot'
  AND EXISTS (SELECT 1 FROM trades AS new
              WHERE new.exchange = 'binance' AND new.symbol = old.symbol
                AND new.ts = old.ts AND new.trade_id = old.trade_id);
UPDATE trades SET exchange = 'binance' WHERE exchange = 'binance_spot';

-- candles, exchange klines and derived 1m bars with their rollups: (exchange, symbol, interval, source, ts)
DELETE FROM candles AS old
WHERE old.exchange = 'binance_spot'
  AND EXISTS (SELECT 1 FROM candles AS new
              WHERE new.exchange = 'binance' AND new.symbol = old.symbol AND new.interval = old.interval
                AND new.source = old.source AND new.ts = old.ts);
UPDATE candles SET exchange = 'binance' WHERE exchange = 'binance_spot';

-- spot_prices: (source, exchange, symbol, ts)
DELETE FROM spot_prices AS old
WHERE old.exchange = 'binance_spot'
  AND EXISTS (SELECT 1 FROM spot_prices AS new
              WHERE new.exchange = 'binance' AND new.source = old.source
                AND new.symbol = old.symbol AND new.ts = old.ts);
UPDATE spot_prices SET exchange = 'binance' WHERE exchange = 'binance_spot';

-- large_trades: (exchange, symbol, trade_id, ts)
DELETE FROM large_trades AS old
WHERE old.exchange = 'binance_spot'
  AND EXISTS (SELECT 1 FROM large_trades AS new
              WHERE new.exchange = 'binance' AND new.symbol = old.symbol
                AND new.trade_id = old.trade_id AND new.ts = old.ts);
UPDATE large_trades SET exchange = 'binance' WHERE exchange = 'binance_spot';

-- spikes (volume spikes of spot bars): (exchange, symbol, metric, interval, ts)
DELETE FROM spikes AS old
WHERE old.exchange = 'binance_spot'
  AND EXISTS (SELECT 1 FROM spikes AS new
              WHERE new.exchange = 'binance' AND new.symbol = old.symbol AND new.metric = old.metric
                AND new.interval = old.interval AND new.ts = old.ts);
UPDATE spikes SET exchange = 'binance' WHERE exchange = 'binance_spot';

-- Binance spot sends no funding, open interest or liquidations; renamed all the same, so that no
-- table keeps the old name whatever wrote it: (exchange, symbol, ts) and the liquidation's identity
DELETE FROM funding_rates AS old
WHERE old.exchange = 'binance_spot'
  AND EXISTS (SELECT 1 FROM funding_rates AS new
              WHERE new.exchange = 'binance' AND new.symbol = old.symbol AND new.ts = old.ts);
UPDATE funding_rates SET exchange = 'binance' WHERE exchange = 'binance_spot';

DELETE FROM open_interest AS old
WHERE old.exchange = 'binance_spot'
  AND EXISTS (SELECT 1 FROM open_interest AS new
              WHERE new.exchange = 'binance' AND new.symbol = old.symbol AND new.ts = old.ts);
UPDATE open_interest SET exchange = 'binance' WHERE exchange = 'binance_spot';

DELETE FROM liquidations AS old
WHERE old.exchange = 'binance_spot'
  AND EXISTS (SELECT 1 FROM liquidations AS new
              WHERE new.exchange = 'binance' AND new.symbol = old.symbol AND new.ts = old.ts
                AND new.side = old.side AND new.price = old.price AND new.size = old.size);
UPDATE liquidations SET exchange = 'binance' WHERE exchange = 'binance_spot';

-- gaps are keyed by (feed, from_ts): the exchange is no part of the key, nothing can collide
UPDATE gaps SET exchange = 'binance' WHERE exchange = 'binance_spot';
UPDATE gaps SET exchange = 'bybit' WHERE exchange = 'bybit_spot';
