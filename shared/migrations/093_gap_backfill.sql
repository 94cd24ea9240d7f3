-- Gaps of one symbol and what backfill made of them (docs/backfill.md): a symbol's trade ids
-- jumped (over an outage of its socket, a restart, or a frame the venue dropped), the ids missing,
-- and the trades the venue's REST history gave back. A socket's outage keeps symbol '' and
-- status '' (its symbols are judged one by one), or 'unrecoverable' where its venue keeps no
-- history we can read. The key becomes (feed, symbol, from_ts): one socket's symbols may lose
-- trades after the same last frame.
ALTER TABLE gaps
    ADD COLUMN symbol             text   NOT NULL DEFAULT '',
    ADD COLUMN first_missing_id   text,
    ADD COLUMN last_missing_id    text,
    ADD COLUMN status             text   NOT NULL DEFAULT ''
        CHECK (status IN ('', 'healed', 'partial', 'unrecoverable')),
    ADD COLUMN recovered          bigint NOT NULL DEFAULT 0,
    ADD COLUMN first_recovered_id text,
    ADD COLUMN last_recovered_id  text;
ALTER TABLE gaps DROP CONSTRAINT gaps_pkey;
ALTER TABLE gaps ADD PRIMARY KEY (feed, symbol, from_ts);
