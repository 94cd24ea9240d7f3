-- The state each leaderboard row was ranked with (the trader's newest clearinghouseState then), so
-- `recompute leaderboard` can rank a past snapshot again: the traders table keeps only the newest.
ALTER TABLE leaderboard ADD COLUMN account_value numeric, ADD COLUMN notional numeric;
