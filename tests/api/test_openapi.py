"""The OpenAPI document and the routes stay in step: every route of the app is documented, every
documented path is a route; the document is valid OpenAPI 3.1, served at /api/v1/openapi.json and
rendered at /docs; the private routes say they need the key, the parameters come from the structs."""
from __future__ import annotations

from collections.abc import Callable

import asyncpg
from openapi_spec_validator import validate
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.api.openapi import OPERATIONS, WRITES, document, operation_of
from shared.config import Settings


def _routes(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings)
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.resource is not None}


def test_every_route_is_documented_and_every_documented_operation_is_a_route(settings: Settings) -> None:
    routes = {(method, path) for method, path in _routes(settings) if method != "HEAD"}  # HEAD: GET's twin
    documented = {(method.upper(), path) for path, item in document(create_app(settings))["paths"].items()
                  for method in item}
    assert routes - documented == set(), "routes without an OpenAPI entry (openapi.py OPERATIONS, WRITES)"
    assert documented - routes == set(), "documented operations that no route serves"
    assert {("GET", path) for path in OPERATIONS} | set(WRITES) == routes, "entries without a route"
    assert {method for method, _ in routes} == {"GET", "POST", "DELETE"}


def test_the_rule_writes_carry_their_body_and_the_rules_write_scope(settings: Settings) -> None:
    doc = document(create_app(settings))
    post = doc["paths"]["/api/v1/rules"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/NewRule"}
    new_rule = doc["components"]["schemas"]["NewRule"]
    assert new_rule["required"] == ["kind"] and new_rule["additionalProperties"] is False
    assert new_rule["properties"]["severity"]["enum"] == ["critical", "info", "warning"]
    assert new_rule["properties"]["cooldown_s"]["maximum"] == 2**31 - 1
    delete = doc["paths"]["/api/v1/rules/{id}"]["delete"]
    for op in (post, delete):
        assert op["security"] == [{"bearer": ["rules:write"]}, {"apiKey": ["rules:write"]}]
        assert op["responses"]["403"]["description"] == "the API key lacks rules:write"
    assert set(post["responses"]) >= {"201", "400", "401", "403"} and "200" not in post["responses"]
    assert delete["parameters"][0]["in"] == "path" and "404" in delete["responses"]
    rule = post["responses"]["201"]["content"]["application/json"]["schema"]
    assert set(rule["required"]) == {"id", "kind", "params", "cooldown_s", "severity", "chat", "enabled"}


def test_the_document_is_valid_openapi_3_1(settings: Settings) -> None:
    doc = document(create_app(settings))
    validate(doc)
    assert doc["openapi"] == "3.1.0"


def test_parameters_come_from_the_query_structs(settings: Settings) -> None:
    doc = document(create_app(settings))
    candles = {p["name"]: p for p in doc["paths"]["/api/v1/candles/{exchange}/{symbol}/{interval}"]["get"]
               ["parameters"]}
    assert {name: p["in"] for name, p in candles.items()} == {
        "exchange": "path", "symbol": "path", "interval": "path", "limit": "query", "from": "query",
        "to": "query", "source": "query"}
    assert candles["limit"]["schema"]["minimum"] == 1 and candles["limit"]["schema"]["default"] == 100
    spread = {p["name"]: p for p in doc["paths"]["/api/v1/funding/spread"]["get"]["parameters"]}
    assert spread["symbol"]["required"] and not spread["max_age_s"]["required"]  # filled from settings
    for schema in doc["components"]["schemas"].values():  # ECMA regexes: no Python-only \Z
        assert r"\Z" not in str(schema)


def test_private_routes_need_the_key_and_every_limited_one_may_answer_429(settings: Settings) -> None:
    doc = document(create_app(settings))
    for path, item in doc["paths"].items():
        for method, op in item.items():
            operation = operation_of(method.upper(), path)
            assert operation is not None and ("security" in op) == operation.private, path
            if op.get("security"):
                assert {"401", "403"} <= set(op["responses"])
            assert ("429" in op["responses"]) == (path not in ("/health", "/ready", "/metrics")), path
    assert doc["paths"]["/api/v1/accounts"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]


async def test_served_and_rendered(make_settings: Callable[..., Settings], pool: asyncpg.Pool,
                                   aiohttp_client: AiohttpClient) -> None:
    app = create_app(make_settings())
    client = await aiohttp_client(app)
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    served = await response.json()
    assert served == document(app)
    page = await client.get("/docs")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    assert "http://" not in html and "https://" not in html  # no external CDN
    for path, item in served["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in html.replace("&#x27;", "'")
    assert "API key: rules:write" in html and "request body: application/json schema" in html
