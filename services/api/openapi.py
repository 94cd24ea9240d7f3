"""The OpenAPI 3.1 contract, built from the route table and the routes' msgspec query types.

Each GET route of the app has an entry in OPERATIONS (its query struct, its answer, whether it
needs account:read), each other method's route one in WRITES (its body struct and the key scope it
needs, named in its security requirement); the document walks app.router, so a route added without
an entry is missing from it and tests/api/test_openapi.py fails. Parameters are the query structs' fields as
msgspec.json.schema_components describes them, answers the msgspec types where the route encodes
one (MultiCandle) and the row schemas of services/api/answers.py elsewhere.

Served at /api/v1/openapi.json; /docs renders it as a plain HTML page (services/api/docs_page.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from services.api import accounts, analytics, dashboard, data, gaps, hedges, market, portfolio, rules, traders
from services.api.answers import ANSWERS, ERROR, RATE_LIMITED, Schema, listing
from services.api.api_keys import ACCOUNT_READ, RULES_WRITE
from services.api.docs_page import render_page
from services.api.params import BIGINT, DESCRIPTIONS, Moment, NameList, Query, UsdAmount
from shared.candles import MultiCandle

JSON = "application/json"
TITLE = "tradehub API"
VERSION = "1"
REF = "#/components/schemas/{name}"
KEY_NAMES = ("bearer", "apiKey")  # the security schemes: either carries the key
PATH_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Operation:
    """What the document says of one route beyond its method, path and handler."""

    tag: str
    query: type[Query] | None = None
    answer: str | None = None  # a key of ANSWERS, or None with `media`
    private: bool = False  # needs an API key with account:read
    database: bool = True  # reads PostgreSQL: 503 when it cannot
    missing: str | None = None  # what a 404 means
    defaulted: tuple[str, ...] = ()  # required by the struct, filled from settings when not given
    path_params: dict[str, Schema] = field(default_factory=dict)  # path parameters without a struct
    media: str = JSON
    limited: bool = True  # subject to the rate limits
    statuses: dict[str, str] = field(default_factory=dict)  # further answers: status -> what
    body: type[msgspec.Struct] | None = None  # the JSON request body
    scope: str = ""  # the key scope a write needs (named in its security requirement)
    success: str = "200"


LIGHTER_INDEX: Schema = {"type": "string", "pattern": r"^([0-9]{1,18}|0x[0-9a-fA-F]{40})$",
                         "description": "an account index, or the L1 address it was added with"}
WS_STATUSES = {"101": "switching to WebSocket", "400": "not a WebSocket upgrade request"}
NOT_MODIFIED = {"304": "not modified (If-None-Match)"}

OPERATIONS: dict[str, Operation] = {
    "/health": Operation("health", answer="health", database=False, limited=False),
    "/ready": Operation("health", answer="ready", database=False, limited=False,
                        statuses={"503": "not ready (the same body says what fails)"}),
    "/metrics": Operation("health", media="text/plain", database=False, limited=False),
    "/api/v1/openapi.json": Operation("contract", media=JSON, database=False),
    "/docs": Operation("contract", media="text/html", database=False),
    # the dashboard's page and files (services/api/dashboard.py): not API, listed so no route goes unseen
    **{path: Operation("dashboard", media=media, database=False, statuses=NOT_MODIFIED)
       for path, (_, media) in dashboard.FILES.items()},
    "/api/v1/trades": Operation("market", data.TradesQuery, "trades"),
    "/api/v1/stats": Operation("market", data.StatsQuery, "stats"),
    "/api/v1/funding": Operation("market", market.FundingQuery, "funding"),
    "/api/v1/funding/spread": Operation("market", market.SpreadQuery, "spread", defaulted=("max_age_s",),
                                        missing="no funding for the asset in max_age_s"),
    "/api/v1/prices": Operation("market", market.PricesQuery, "prices"),
    "/api/v1/open-interest": Operation("market", market.OpenInterestQuery, "open_interest"),
    "/api/v1/candles/multi/{symbol}/{interval}": Operation("analytics", analytics.MultiCandlesQuery,
                                                           "multi_candles"),
    "/api/v1/candles/{exchange}/{symbol}/{interval}": Operation("analytics", analytics.CandlesQuery,
                                                                "candles"),
    "/api/v1/liquidations": Operation("analytics", analytics.LiquidationsQuery, "liquidations"),
    "/api/v1/large-trades": Operation("analytics", analytics.LargeTradesQuery, "large_trades"),
    "/api/v1/spikes": Operation("analytics", analytics.SpikesQuery, "spikes"),
    "/api/v1/gaps": Operation("analytics", gaps.GapsQuery, "gaps"),
    "/api/v1/traders/leaderboard": Operation("traders", traders.LeaderboardQuery, "leaderboard"),
    "/api/v1/traders/{address}": Operation("traders", traders.TraderQuery, "trader",
                                           missing="unknown trader"),
    **{f"/api/v1/traders/{{address}}/{part}": Operation(
        "traders", traders.TraderWindow, part, missing="unknown trader",
        defaulted=("limit",) if part == "equity" else ()) for part in ("changes", "fills", "equity")},
    "/api/v1/accounts": Operation("accounts", answer="accounts", private=True),
    "/api/v1/accounts/{id}/orders": Operation("accounts", accounts.AccountWindow, "orders", private=True,
                                              missing="unknown account"),
    "/api/v1/accounts/{id}/fills": Operation("accounts", accounts.AccountWindow, "account_fills",
                                             private=True, missing="unknown account"),
    "/api/v1/accounts/{id}/balances": Operation("accounts", accounts.BalancesWindow, "balances",
                                                private=True, missing="unknown account"),
    "/api/v1/accounts/{id}/positions": Operation("accounts", accounts.PositionsWindow, "positions",
                                                 private=True, missing="unknown account"),
    "/api/v1/accounts/{id}/differences": Operation("accounts", accounts.DifferencesWindow, "differences",
                                                   private=True, missing="unknown account"),
    "/api/v1/portfolio": Operation("accounts", portfolio.PortfolioQuery, "portfolio", private=True),
    "/api/v1/portfolio/history": Operation("accounts", portfolio.HistoryQuery, "portfolio_history",
                                           private=True),
    "/api/v1/hedges": Operation("accounts", hedges.LatestQuery, "hedges", private=True),
    "/api/v1/hedges/history": Operation("accounts", hedges.HistoryQuery, "hedges", private=True),
    "/api/v1/lighter/accounts/{index}": Operation("accounts", answer="lighter", private=True,
                                                  path_params={"index": LIGHTER_INDEX},
                                                  missing="no followed Lighter account has that index"),
    "/api/v1/alerts": Operation("rules", rules.AlertsQuery, private=True),
    "/api/v1/rules": Operation("rules", answer="rules", private=True),
    "/ws": Operation("push", media="", database=False, statuses=WS_STATUSES),
}
RULE_ID: Schema = {"type": "string", "pattern": r"^[0-9]{1,19}$", "description": "a rule's id"}
# (method, path) -> the routes that are not GET
WRITES: dict[tuple[str, str], Operation] = {
    ("POST", "/api/v1/rules"): Operation("rules", answer="rule", private=True, body=rules.NewRule,
                                         scope=RULES_WRITE, success="201"),
    ("DELETE", "/api/v1/rules/{id}"): Operation("rules", answer="removed", private=True, scope=RULES_WRITE,
                                                path_params={"id": RULE_ID}, missing="no such rule"),
}
OPENAPI_DOC = web.AppKey("openapi_document", dict)


def private_paths() -> frozenset[str]:
    """The paths whose routes need a key (the rate limiter's `account` scope): the rules' writes too."""
    keyed = [*OPERATIONS.items(), *((path, op) for (_, path), op in WRITES.items())]
    return frozenset(path for path, operation in keyed if operation.private)


def custom_schema(kind: type) -> Schema:
    """msgspec's schema_hook: the parameter types that are parsed from text by params.py."""
    description = DESCRIPTIONS.get(kind)
    if kind is Moment:
        moment = [{"type": "integer", "minimum": -BIGINT, "maximum": BIGINT},
                  {"type": "string", "format": "date-time"}]
        return {"description": description, "anyOf": moment}
    if kind is NameList:
        name = "[A-Za-z0-9_.-]{1,64}"
        return {"description": description, "type": "string", "pattern": f"^,*{name}(,+{name})*,*$"}
    if kind is UsdAmount:
        return {"description": description, "type": "number", "minimum": 0}
    raise NotImplementedError(kind)


def ecma_patterns(node: Any) -> Any:
    """Python's `\\Z` (end, no newline before it) is `$` in the ECMA regexes JSON Schema uses."""
    if isinstance(node, dict):
        return {key: (value.replace(r"\Z", "$") if key == "pattern" and isinstance(value, str)
                      else ecma_patterns(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [ecma_patterns(item) for item in node]
    return node


def _without_null(schema: Schema) -> Schema:
    """A parameter's schema: a query never carries null; an empty optional filter means none."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if not options:
        return schema
    rest = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
    return {**rest, "anyOf": [*options, {"type": "string", "maxLength": 0}],
            "description": "empty or left out: no filter"}


def parameters(path: str, operation: Operation, struct: Schema | None) -> list[Schema]:
    """The path parameters, then the query struct's fields (path ones where the path names them)."""
    in_path = set(PATH_PARAM.findall(path))
    found: list[Schema] = [{"name": name, "in": "path", "required": True, "schema": schema}
                           for name, schema in operation.path_params.items()]
    if struct is None:
        return found
    required = set(struct.get("required", [])) - set(operation.defaulted)
    for name, schema in struct["properties"].items():
        where = "path" if name in in_path else "query"
        found.append({"name": name, "in": where, "required": where == "path" or name in required,
                      "schema": _without_null(schema), "description": schema.get("description", "")})
    return found


def _error(what: str, schema: Schema = ERROR) -> dict[str, Any]:
    return {"description": what, "content": {JSON: {"schema": schema}}}


def responses(operation: Operation, answer: Schema | None, has_params: bool) -> dict[str, Any]:
    """Every status the route answers, each with its body's schema."""
    found: dict[str, Any] = {}
    if operation.media:
        body = answer or ({"type": "object"} if operation.media == JSON else {"type": "string"})
        found[operation.success] = {"description": "the answer",
                                    "content": {operation.media: {"schema": body}}}
    if has_params or not operation.media or operation.body is not None:
        found["400"] = _error("a parameter or the body is wrong: the error says what it must be")
    if operation.private:
        found["401"] = _error("no API key, an unknown or a revoked one")
        found["403"] = _error(f"the API key lacks {operation.scope or ACCOUNT_READ}")
    if operation.missing:
        found["404"] = _error(operation.missing)
    if operation.limited:
        found["429"] = {**_error("past the client's rate limit", RATE_LIMITED), "headers": {"Retry-After": {
            "description": "seconds until a request is taken again", "schema": {"type": "integer"}}}}
    if operation.database or operation.private:
        found["503"] = _error("PostgreSQL does not answer")
    for status, what in operation.statuses.items():
        if status == "503" and answer is not None:
            found[status] = {"description": what, "content": {JSON: {"schema": answer}}}
        elif status != "400" or "400" not in found:
            found[status] = {"description": what}
    return found


def _schemas() -> tuple[dict[type, Schema], dict[str, Schema], dict[str, Schema]]:
    """(query struct -> its component, the components, the answers with the msgspec-typed ones).
    A body struct maps to its reference: a request body is one schema, not parameters."""
    queries = sorted({op.query for op in OPERATIONS.values() if op.query is not None},
                     key=lambda q: (q.__name__, q.__module__))
    bodies = [op.body for op in WRITES.values() if op.body is not None]
    refs, components = msgspec.json.schema_components([MultiCandle, *queries, *bodies],
                                                      schema_hook=custom_schema, ref_template=REF)
    structs: dict[type, Schema] = {query: components[ref["$ref"].rsplit("/", 1)[-1]]
                                   for query, ref in zip(queries, refs[1:1 + len(queries)], strict=True)}
    structs.update(zip(bodies, refs[1 + len(queries):], strict=True))
    return structs, components, {**ANSWERS, **rules.ANSWERS, "multi_candles": listing("candles", refs[0])}


def _entry(route: web.AbstractRoute, path: str, operation: Operation, structs: dict[type, Schema],
           answers: dict[str, Schema]) -> dict[str, Any]:
    params = parameters(path, operation, None if operation.query is None else structs[operation.query])
    handler = route.handler
    entry: dict[str, Any] = {
        "operationId": f"{handler.__module__.rsplit('.', 1)[-1]}_{handler.__name__}",
        "summary": " ".join((handler.__doc__ or "").split("\n\n")[0].split()),
        "tags": [operation.tag], "parameters": params,
        "responses": responses(operation, answers.get(operation.answer or ""), bool(params)),
    }
    if operation.body is not None:
        entry["requestBody"] = {"required": True, "content": {JSON: {"schema": structs[operation.body]}}}
    if operation.private:
        entry["security"] = [{name: [operation.scope] if operation.scope else []} for name in KEY_NAMES]
    return entry


def operation_of(method: str, path: str) -> Operation | None:
    """What the document says of a route; None for HEAD (answered wherever GET is, not listed)."""
    return OPERATIONS.get(path) if method == "GET" else WRITES.get((method, path))


def document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of the routes `app` has, as OPERATIONS and WRITES describe them."""
    structs, components, answers = _schemas()
    paths: dict[str, Any] = {}
    for route in app.router.routes():
        resource = route.resource
        operation = None if resource is None else operation_of(route.method, resource.canonical)
        if resource is not None and operation is not None:
            path = resource.canonical
            entry = _entry(route, path, operation, structs, answers)
            paths.setdefault(path, {})[route.method.lower()] = entry
    found: dict[str, Any] = ecma_patterns({
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION,
                 "description": "Market data, traders and your own accounts; see docs/api.md."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "Authorization: Bearer th_<id>_<secret>"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
    })
    return found


async def store_document(app: web.Application) -> None:
    """Built once, when the app starts: every route is added by then."""
    app[OPENAPI_DOC] = document(app)


async def openapi_json(request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json: this API's OpenAPI 3.1 document."""
    return web.json_response(request.app[OPENAPI_DOC])


async def docs_page(request: web.Request) -> web.Response:
    """GET /docs: the OpenAPI document as a plain HTML page."""
    return web.Response(text=render_page(request.app[OPENAPI_DOC]), content_type="text/html")


def add_routes(app: web.Application) -> None:
    app.on_startup.append(store_document)
    app.router.add_get("/api/v1/openapi.json", openapi_json)
    app.router.add_get("/docs", docs_page)
