"""JSON Schemas of the API's answers, for the OpenAPI document (services/api/openapi.py).

Most answers are rows of one table, read with NUMERIC::text (money as exact decimal strings) and
times as integer µs; they have no msgspec type, so each row is declared here in one line:
"name:kind" words, kind one of str, dec, int, num, bool, any, obj, a trailing "?" for a column that
may be null. The columns and their nullability are the migrations' (shared/migrations/).
"""
from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

DECIMAL: Schema = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
                   "description": "an exact decimal number as text"}
KINDS: dict[str, Schema] = {
    "str": {"type": "string"}, "dec": DECIMAL, "bool": {"type": "boolean"}, "obj": {"type": "object"},
    "int": {"type": "integer", "description": "an integer (times: µs since the epoch)"},
    "num": {"type": "number"}, "any": {},
}
ERROR: Schema = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
RATE_LIMITED: Schema = {"type": "object", "required": ["error", "retry_after_s"],
                        "properties": {"error": {"type": "string"}, "retry_after_s": {"type": "integer"}}}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def row(columns: str, **nested: Schema) -> Schema:
    """An object of the named columns, each required (present, perhaps null), no other."""
    properties: dict[str, Schema] = {}
    for word in columns.split():
        name, _, kind = word.partition(":")
        schema = KINDS[kind.rstrip("?")]
        properties[name] = nullable(schema) if kind.endswith("?") else schema
    properties.update(nested)
    return {"type": "object", "required": list(properties), "properties": properties,
            "additionalProperties": False}


def listing(name: str, item: Schema, **extra: Schema) -> Schema:
    """{name: [item, ...], "count": n, ...extra}."""
    return row("count:int", **{name: {"type": "array", "items": item}}, **extra)


VENUE = "exchange:str symbol:str"
TRADE = row(f"{VENUE} raw_symbol:str trade_id:str price:dec size:dec side:str ts:int recv_ts:int")
FUNDING = row(f"{VENUE} raw_symbol:str rate:dec interval_hours:dec annualized:dec next_funding_ts:int? "
              "ts:int recv_ts:int")
SPREAD_LEG = row(f"{VENUE} rate:dec interval_hours:dec annualized:dec ts:int")
PAIR_LEG = nullable(row(f"{VENUE} annualized:dec"))
PRICE = row(f"source:str {VENUE} raw_symbol:str price:dec ts:int recv_ts:int")
OPEN_INTEREST = row(f"{VENUE} raw_symbol:str contracts:dec base:dec? usd:dec? ts:int recv_ts:int")
CANDLE = row(f"{VENUE} raw_symbol:str interval:str source:str ts:int open:dec high:dec low:dec close:dec "
             "volume:dec trades:int? buy_volume:dec? closed:bool recv_ts:int")
LIQUIDATION = row(f"{VENUE} raw_symbol:str side:str price:dec size:dec usd_value:dec raw_size:dec? ts:int "
                  "recv_ts:int")
LARGE_TRADE = row(f"{VENUE} trade_id:str side:str price:dec size:dec usd_value:dec threshold:dec ts:int "
                  "recv_ts:int")
SPIKE = row(f"{VENUE} metric:str interval:str ts:int value:dec mean:dec stdev:dec z:dec threshold:dec "
            "recv_ts:int")
STORED_GAP = row("feed:str exchange:str from_ts:int to_ts:int duration_us:int reason:str symbol:str "
                 "first_missing_id:str? last_missing_id:str? status:str recovered:int "
                 "first_recovered_id:str? last_recovered_id:str? ongoing:bool")
OPEN_GAP = row("feed:str exchange:str from_ts:int? to_ts:any duration_us:int reason:str ongoing:bool "
               "connected:bool failures:int stale:bool")
COVERAGE = row("tracked_since:int? fills_complete:bool")
METRICS = ("ts:int rank:int address:str score:dec age_days:dec volume:dec realized_pnl:dec roi:dec? "
           "win_rate:dec? risk_ratio:dec? max_drawdown:dec? sharpe:dec? closed_trades:int")
LEADER = row(METRICS, coverage=COVERAGE)
TRADER_METRICS = nullable(row(METRICS.replace("address:str ", "") + " in_latest_snapshot:bool",
                              coverage=COVERAGE))
TRADER_POSITION = row("symbol:str size:dec entry_price:dec? position_value:dec unrealized_pnl:dec "
                      "leverage:dec? liquidation_price:dec? ts:int")
TRADER = row(
    "address:str exchange:str first_seen:int last_seen:int trades_seen:int volume_seen:dec "
    "account_value:dec? notional:dec? tracked_since:int? last_tracked:int? watched:bool watch_min_usd:dec "
    "staleness_s:num?",
    coverage=row("tracked_since:int? fills_from:int? fills_until:int? fills_complete:bool equity_until:int?"),
    metrics=TRADER_METRICS, positions={"type": "array", "items": TRADER_POSITION})
CHANGE = row(f"{VENUE} ts:int change:str old_size:dec new_size:dec entry_price:dec? position_value:dec? "
             "unrealized_pnl:dec? leverage:dec? liquidation_price:dec? liquidated:bool recv_ts:int")
TRADER_FILL = row(f"{VENUE} tid:str ts:int order_id:str side:str price:dec size:dec start_position:dec "
                  "direction:str closed_pnl:dec fee:dec fee_asset:str liquidation:bool recv_ts:int")
EQUITY = row("ts:int account_value:dec pnl:dec")
ACCOUNT = row("id:str exchange:str scope:str address:str? credentials:bool alerts:obj created_at:int "
              "updated_at:int")
ORDER = row("exchange:str order_id:str client_id:str symbol:str side:str order_type:str price:dec? "
            "avg_price:dec? size:dec filled:dec status:str closing:str ts:int recv_ts:int")
ACCOUNT_FILL = row("exchange:str fill_id:str order_id:str symbol:str side:str price:dec size:dec fee:dec "
                   "fee_asset:str realized_pnl:dec? closing:str ts:int recv_ts:int")
BALANCE = row("exchange:str asset:str total:dec available:dec ts:int")
POSITION = row("exchange:str symbol:str size:dec entry_price:dec? mark_price:dec? unrealized_pnl:dec? "
               "leverage:dec? ts:int")
DIFFERENCE = row("exchange:str ts:int kind:str item:str stored:str venue:str")
PORTFOLIO_ITEM = row("account:str asset:str exchange:str quantity:dec avg_entry:dec? cost_method:str "
                     "realized_pnl:dec unrealized_pnl:dec? pnl_pct:dec? price:dec? price_source:str "
                     "price_age_s:dec? value_usd:dec? ts:int")
SNAPSHOT = row("account:str ts:int value_usd:dec priced:bool")
HEDGE = row("pool:str asset:str ts:int source:str pool_asset:str pool_tokens:dec per_unit:dec required:dec "
            "held:dec drift:dec drift_pct:dec? price:dec? drift_usd:dec?")
LIGHTER_POSITION = row("symbol:str size:dec entry_price:dec? mark_price:dec? unrealized_pnl:dec? "
                       "realized_pnl:dec? liquidation_price:dec? funding_paid:dec? leverage:dec? ts:int")
LIGHTER_BALANCE = row("asset:str total:dec available:dec ts:int")

ANSWERS: dict[str, Schema] = {
    "health": row("status:str"),
    "ready": {"type": "object", "required": ["status", "redis", "postgres", "services", "streams", "traders"],
              "properties": {"status": {"enum": ["ready", "not ready"]}, **{
                  name: {"type": "object"} for name in ("redis", "postgres", "services", "streams", "traders",
                                                        "pollers", "feeds", "portfolio")}}},
    "trades": listing("trades", TRADE),
    "stats": row("trades:int distinct_trades:int"),
    "funding": listing("funding", FUNDING),
    "spread": listing("venues", SPREAD_LEG, symbol=KINDS["str"], long=PAIR_LEG, short=PAIR_LEG,
                      spread=nullable(DECIMAL)),
    "prices": listing("prices", PRICE),
    "open_interest": listing("open_interest", OPEN_INTEREST),
    "candles": listing("candles", CANDLE),
    "liquidations": listing("liquidations", LIQUIDATION),
    "large_trades": listing("large_trades", LARGE_TRADE),
    "spikes": listing("spikes", SPIKE),
    "gaps": listing("gaps", STORED_GAP, ongoing={"type": "array", "items": OPEN_GAP}),
    "leaderboard": listing("traders", LEADER, snapshot_ts=nullable(KINDS["int"]), sort=KINDS["str"],
                           order={"enum": ["asc", "desc"]}),
    "trader": TRADER,
    "changes": listing("changes", CHANGE, address=KINDS["str"]),
    "fills": listing("fills", TRADER_FILL, address=KINDS["str"]),
    "equity": listing("points", EQUITY, address=KINDS["str"]),
    "accounts": listing("accounts", ACCOUNT),
    "orders": listing("orders", ORDER, account=KINDS["str"]),
    "account_fills": listing("fills", ACCOUNT_FILL, account=KINDS["str"]),
    "balances": listing("balances", BALANCE, account=KINDS["str"], history=KINDS["bool"]),
    "positions": listing("positions", POSITION, account=KINDS["str"], history=KINDS["bool"]),
    "differences": listing("differences", DIFFERENCE, account=KINDS["str"]),
    "portfolio": listing("accounts", row("account:str ts:int value_usd:dec priced:bool",
                                         items={"type": "array", "items": PORTFOLIO_ITEM}),
                         total_usd=DECIMAL, priced=KINDS["bool"]),
    "portfolio_history": listing("snapshots", SNAPSHOT, account=nullable(KINDS["str"])),
    "hedges": listing("hedges", HEDGE),
    "lighter": row("index:str account:str", positions={"type": "array", "items": LIGHTER_POSITION},
                   balances={"type": "array", "items": LIGHTER_BALANCE}),
}

# the open outages come from Redis: without it the stored gaps still answer, and say why not those
ANSWERS["gaps"]["properties"]["ongoing_error"] = {"type": "string"}
