"""schemathesis against the live API: the app on a real port with the real Redis and PostgreSQL,
a few rows in the tables, and the document the app serves. Positive and negative cases for every
operation (20 each, derandomized, so the run is short and the same every time):
- no 500 anywhere;
- every answer's status, content type, headers and body as the document says;
- every bad parameter a 400 (404 where a bad path segment matches no route) with a JSON error.
schemathesis runs in a thread with its blocking HTTP client; the server stays on the test's loop."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import asyncpg
import hypothesis
import redis.asyncio as aioredis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from pytest_aiohttp import AiohttpServer
from schemathesis import APIOperation
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.api.app import create_app
from shared.config import Settings
from shared.events import now_us
from tests.api.test_accounts_api import key

EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
SKIPPED = {"/ws", "/metrics"}  # an upgrade request, and Prometheus' own text format
CONFIG = {"checks": {"negative_data_rejection": {"expected-statuses": [400, 404]}}}


async def seed(pool: asyncpg.Pool) -> None:
    """A row where each answer's schema has something to check."""
    now = now_us()
    await pool.execute(
        "INSERT INTO trades (exchange, symbol, raw_symbol, trade_id, price, size, side, ts, recv_ts) "
        "VALUES ('binance', 'BTC-USDT-PERP', 'BTCUSDT', '1', $1, $2, 'buy', $3, $3)",
        Decimal("60000.5"), Decimal("0.001"), now)
    for exchange, rate in (("binance", "0.0001"), ("okx", "-0.00005")):
        await pool.execute(
            "INSERT INTO funding_rates (exchange, symbol, raw_symbol, rate, interval_hours, annualized, "
            "next_funding_ts, ts, recv_ts) VALUES ($1, 'BTC-USDT-PERP', 'BTCUSDT', $2, 8, $3, NULL, $4, $4)",
            exchange, Decimal(rate), Decimal(rate) * 1095, now)
    await pool.execute(
        "INSERT INTO accounts (id, exchange, scope, address, sealed, alerts, created_at, updated_at) "
        "VALUES ('main', 'binance', 'read', NULL, $2, '{}', $1, $1)", now, b"x" * 40)


def run_operation(operation: APIOperation, mode: GenerationMode, base_url: str, headers: dict[str, str],
                  session: requests.Session) -> None:
    """EXAMPLES cases of one operation in one mode, each sent and checked."""
    # /ready's 503 is its answer (no service heartbeats here), not a server error
    ready = operation.path == "/ready"
    checks = CHECKS[1:] if ready else CHECKS

    @hypothesis.settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers)
        case.validate_response(response, checks=checks, headers=headers)
        if response.status_code >= 400 and not ready:
            assert isinstance(response.json().get("error"), str), response.text

    check()


def fuzz(doc: dict[str, Any], base_url: str, headers: dict[str, str]) -> list[str]:
    """Every operation, positive then negative; the failures, each named by its operation."""
    schema = schemathesis.openapi.from_dict(doc, config=schemathesis.Config.from_dict(CONFIG))
    failures: list[str] = []
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIPPED:
            continue
        modes = [GenerationMode.POSITIVE]
        if list(operation.iter_parameters()):  # without parameters there is nothing to get wrong
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            try:
                run_operation(operation, mode, base_url, headers, session)
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failure is reported
                failures.append(f"{operation.path} {mode.value}: {exc}")
    return failures


async def test_schemathesis_finds_nothing(make_settings: Callable[..., Settings], pool: asyncpg.Pool,
                                          redis: aioredis.Redis, aiohttp_server: AiohttpServer) -> None:
    settings = make_settings(api_rate_anonymous_burst=1_000_000, api_rate_market_burst=1_000_000,
                             api_rate_account_burst=1_000_000)
    await seed(pool)
    headers = {"Authorization": f"Bearer {await key(pool, 'account:read', 'rules:write')}"}  # every route
    server = await aiohttp_server(create_app(settings))
    base_url = str(server.make_url("")).rstrip("/")
    doc = (await asyncio.to_thread(requests.get, f"{base_url}/api/v1/openapi.json", timeout=10)).json()
    failures = await asyncio.to_thread(fuzz, doc, base_url, headers)
    assert not failures, "\n\n".join(failures)
