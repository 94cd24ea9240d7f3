-- The first reconciliation of an account is its baseline: what it stores is the account's history
-- as the venue tells it, not a cache that was wrong, so it is neither counted nor alerted.
ALTER TABLE accounts ADD COLUMN baseline_ts bigint;  -- the first snapshot stored; NULL: none yet
