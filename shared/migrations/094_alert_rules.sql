-- Alert rules users write (docs/rules.md): each rule is a kind and its parameters, evaluated by the
-- processor's "rules" group as events flow; what fired is kept in alert_history. Times are µs.
CREATE TABLE alert_rules (
    id         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text    NOT NULL,                    -- funding, price, liquidation, large_trade, spike, trader
    params     jsonb   NOT NULL DEFAULT '{}',       -- the kind's parameters, numbers as decimal strings
    cooldown_s integer NOT NULL DEFAULT 300 CHECK (cooldown_s >= 0),
    severity   text    NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
    chat       text    NOT NULL DEFAULT '',         -- '': the chats of its severity
    enabled    boolean NOT NULL DEFAULT true,
    created_at bigint  NOT NULL
);

CREATE TABLE alert_history (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id  bigint NOT NULL,                       -- kept when the rule is removed
    ts       bigint NOT NULL,                       -- the event's time
    fired_at bigint NOT NULL,                       -- when the rule fired
    key      text   NOT NULL,
    severity text   NOT NULL,
    chat     text   NOT NULL DEFAULT '',
    title    text   NOT NULL,
    text     text   NOT NULL DEFAULT ''
);
CREATE INDEX alert_history_fired_at ON alert_history (fired_at DESC);
CREATE INDEX alert_history_rule ON alert_history (rule_id, fired_at DESC);
