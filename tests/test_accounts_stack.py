"""The accounts on the running stack (simulator, processor, receivers, api as processes), with known
fake secrets: a good Binance account's fills are stored and served behind an API key; a Bybit
account whose secret is wrong shows as "auth failed" in /ready, is retried with backoff rather than
in a tight loop, and alerted once. Then every log file, every Redis key and value, and every
PostgreSQL column but the sealed one are scanned for the secrets: none is there."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from services.simulator.account_desk import DEMO_KEYS
from shared.constants import stream_key
from shared.events import Alert, batch_decoder
from shared.vault import new_master_key
from tests.stack import ROOT, Stack
from tests.test_account_reconcile_e2e import dump

pytestmark = pytest.mark.fault
DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
GOOD_KEY, GOOD_SECRET, _ = DEMO_KEYS["binance"]
BAD_KEY, BAD_SECRET = DEMO_KEYS["bybit"][0], "not-the-bybit-secret-0001"


def cli(stack: Stack, service: str, *args: str, stdin: str = "") -> str:
    done = subprocess.run([sys.executable, "-m", f"services.{service}", *args], cwd=ROOT, env=stack.env,
                          input=stdin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def api_get(stack: Stack, path: str, key: str = "") -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{stack.ports['api']}{path}",
                                     headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


async def wait_for(check: Any, seconds: float, what: str, stack: Stack) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds}s: {what}\n{stack.logs()}")
        await asyncio.sleep(0.5)


async def test_accounts_on_the_stack_leak_no_secret(tag: str, tmp_path: Path, redis: aioredis.Redis) -> None:
    master = new_master_key()
    stack = Stack(tag, tmp_path, accounts_enabled="true", master_key=master, account_reconcile_s="3",
                  account_auth_backoff_max_s="2", feeds="", log_level="DEBUG")
    sim = f"127.0.0.1:{stack.ports['simulator']}"
    stack.env["TRADEHUB_VENUE_URLS"] = (f"binance_private=ws://{sim}/private/ws,binance_rest=http://{sim}/binance,"
                                        f"bybit_private=ws://{sim}/v5/private,bybit_rest=http://{sim}/bybit")
    cli(stack, "general", "accounts", "add", "good", "--exchange", "binance", "--stdin",
        stdin=f"{GOOD_KEY}\n{GOOD_SECRET}\n")
    cli(stack, "general", "accounts", "add", "bad", "--exchange", "bybit", "--stdin",
        stdin=f"{BAD_KEY}\n{BAD_SECRET}\n")
    api_key = cli(stack, "api", "keys", "create", "--scope", "account:read").strip()
    conn = await asyncpg.connect(DATABASE_URL, server_settings={"search_path": tag})
    try:
        for name in ("simulator", "processor", "receivers", "api"):
            stack.start(name)
        started = time.monotonic()
        stack.wait_for("api", "/health")

        async def fills_stored() -> bool:
            return int(await conn.fetchval("SELECT count(*) FROM account_fills WHERE account = 'good'")) >= 5

        async def auth_failed() -> bool:
            feeds = stack.get("api", "/ready")[1].get("feeds", {}).get("by_feed", {})
            return feeds.get("bybit:account:bad", {}).get("state") == "auth failed"

        await wait_for(fills_stored, 60, "the good account's fills stored", stack)
        await wait_for(auth_failed, 30, "the bad account shown as auth failed", stack)
        await asyncio.sleep(6)  # time for a tight loop to show itself, and for a second alert to be wrong
        assert api_get(stack, "/api/v1/accounts/good/fills")[0] == 401
        status, body = api_get(stack, "/api/v1/accounts/good/fills", api_key)
        assert status == 200 and body["count"] >= 5, body
        alerts = [e for _, fields in await redis.xrange(stream_key(tag, "alerts"))
                  for e in batch_decoder.decode(fields[b"e"]) if isinstance(e, Alert)]
        assert [a.key for a in alerts if a.key.endswith(":auth")] == ["account:bybit:bad:auth"]
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['receivers']}/metrics") as response:
            metrics = response.read().decode()
        refused = [line for line in metrics.splitlines()
                   if line.startswith("tradehub_account_auth_failures_total") and 'account="bad"' in line]
        # a backoff from 0.5 s capped at 2 s: about one refusal a second, where a tight loop would
        # make hundreds
        elapsed_s = time.monotonic() - started
        assert refused and 2 <= float(refused[0].split()[-1]) <= 2 * elapsed_s, (refused, elapsed_s)
    finally:
        codes = stack.stop_all()
    assert all(code == 0 for code in codes.values()), (codes, stack.logs())
    secrets = [GOOD_KEY.encode(), GOOD_SECRET.encode(), BAD_KEY.encode(), BAD_SECRET.encode(),
               master.encode(), api_key.encode()]
    logs = b"\n".join(path.read_bytes() for path in tmp_path.glob("*.log"))
    assert b"account snapshot" in logs and not [s for s in secrets if s in logs]
    in_redis = b"\n".join([await dump(redis, key) async for key in redis.scan_iter(match=f"{tag}:*")])
    assert not [s for s in secrets if s in in_redis]
    try:
        for table in [r["table_name"] for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", tag)]:
            rows = await conn.fetch(f'SELECT to_jsonb(t) - \'sealed\' AS row FROM "{table}" t')
            text = "\n".join(str(r["row"]) for r in rows).encode()
            assert not [s for s in secrets if s in text], table
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')
        await conn.close()
