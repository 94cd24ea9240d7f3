-- LP hedge monitors (docs/hedges.md): each run compares, per pool and asset, the short the pool
-- holding requires with the short positions stored from the user's accounts. One row per run, pool
-- and asset; the newest of each is the current state. Times are microseconds, amounts NUMERIC.
CREATE TABLE hedge_snapshots (
    pool       text    NOT NULL,                     -- the pool's name in hedge_pools
    asset      text    NOT NULL,                     -- the hedge's base asset (BTC for the pool's WBTC)
    ts         bigint  NOT NULL,
    source     text    NOT NULL,                     -- jlp, adrena
    pool_asset text    NOT NULL,                     -- the pool's own name for the asset
    held_units numeric NOT NULL,                     -- pool tokens held
    per_unit   numeric NOT NULL,                     -- asset tokens per pool token
    required   numeric NOT NULL,                     -- short required, in asset tokens (> 0)
    hedge      numeric NOT NULL,                     -- short held, in asset tokens (> 0)
    drift      numeric NOT NULL,                     -- hedge - required: > 0 over-hedged
    drift_pct  numeric,                              -- drift / required * 100; NULL when required is 0
    price      numeric,                              -- USD per token used for drift_usd
    drift_usd  numeric,
    PRIMARY KEY (pool, asset, ts)
);
