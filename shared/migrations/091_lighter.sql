-- What a venue says of a position beyond its size and prices (Lighter's account endpoint and its
-- account_all channel say all three; other venues may leave them NULL): the liquidation price the
-- processor's liquidation-distance alert reads, the PnL realized while the position was open, and
-- the funding it paid out. Money, numeric; NULL when the venue does not say.
ALTER TABLE account_positions
    ADD COLUMN liquidation_price numeric,
    ADD COLUMN realized_pnl      numeric,
    ADD COLUMN funding_paid      numeric;
ALTER TABLE account_position_history
    ADD COLUMN liquidation_price numeric,
    ADD COLUMN realized_pnl      numeric,
    ADD COLUMN funding_paid      numeric;
