"""tradehub's API keys on the real PostgreSQL: the key's form, only its SHA-256 stored, 401 without a
key or with a wrong, malformed or revoked one, 403 with a key lacking account:read, a revocation
seen within seconds by a key in use, the CLI (create prints the key once, list shows no hash) and
`python -m services.api keys` dispatch."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import subprocess
import sys
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from pytest_aiohttp import AiohttpClient

from services.api.api_keys import (
    KEY_FORMAT,
    create_key,
    digest_of,
    list_keys,
    revoke_key,
    split_key,
)
from services.api.app import create_app
from services.api.keys_cli import run_keys
from shared.config import Settings
from tests.conftest import DATABASE_URL, drop_schema

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = "/api/v1/accounts"


async def new_key(pool: asyncpg.Pool, *scopes: str, name: str = "") -> str:
    async with pool.acquire() as conn:
        return (await create_key(conn, scopes or ("account:read",), name))[1]


def test_a_key_is_th_its_id_and_a_32_byte_secret() -> None:
    text = "th_0123abcd_" + "A" * 42 + "-"
    assert split_key(text) == ("0123abcd", "A" * 42 + "-")
    for bad in ("", "th_0123abcd", "th_0123ABCD_" + "A" * 43, "th_0123abcd_" + "A" * 42,
                "th_0123abcd_" + "A" * 43 + "\n", "xx_0123abcd_" + "A" * 43, "th_0123abcd_" + "+" * 43):
        assert split_key(bad) is None, bad


async def test_only_the_secrets_hash_is_stored(pool: asyncpg.Pool) -> None:
    text = await new_key(pool, "account:read", "market", name="laptop")
    key_id, secret = split_key(text) or ("", "")
    row = await pool.fetchrow("SELECT * FROM api_keys")
    assert row is not None and row["id"] == key_id and row["name"] == "laptop"
    assert bytes(row["hash"]) == hashlib.sha256(secret.encode()).digest() == digest_of(secret)
    assert row["scopes"] == ["account:read", "market"] and row["revoked_at"] is None
    stored = " ".join(str(value) for value in row.values()) + bytes(row["hash"]).hex()
    assert secret not in stored and text not in stored
    assert len(secret) == 43 and KEY_FORMAT.match(text)  # 32 bytes, URL-safe base64 without padding
    with pytest.raises(ValueError, match="scopes"):
        async with pool.acquire() as conn:
            await create_key(conn, ["account:write"])


async def test_account_routes_refuse_missing_wrong_revoked_and_unscoped_keys(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await aiohttp_client(create_app(settings))
    good = await new_key(pool, "account:read")
    market_only = await new_key(pool, "market")
    revoked = await new_key(pool, "account:read")
    async with pool.acquire() as conn:
        assert await revoke_key(conn, revoked[3:11]) is True
        assert await revoke_key(conn, revoked[3:11]) is False  # already: the first time stays
        assert await revoke_key(conn, "ffffffff") is None
    key_id, secret = split_key(good) or ("", "")
    wrong_secret = f"th_{key_id}_{secret[::-1]}"

    async def status(headers: dict[str, str]) -> tuple[int, str]:
        response = await client.get(ACCOUNTS, headers=headers)
        body = await response.json()
        assert response.content_type == "application/json"
        if response.status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        return response.status, body.get("error", "")

    missing = await status({})
    assert missing == (401, "an API key with account:read is required "
                            "(Authorization: Bearer <key> or X-API-Key)")
    assert await status({"Authorization": "Bearer "}) == missing
    assert await status({"Authorization": "Basic dXNlcjpwdw=="}) == missing
    for bad in ("th_nothing", wrong_secret, "th_ffffffff_" + "A" * 43):
        assert await status({"Authorization": f"Bearer {bad}"}) == (401, "unknown API key"), bad
        assert await status({"X-API-Key": bad}) == (401, "unknown API key"), bad
    assert await status({"Authorization": f"Bearer {revoked}"}) == (401, "API key revoked")
    assert await status({"Authorization": f"Bearer {market_only}"}) == (
        403, "the API key lacks the scope account:read")
    assert await status({"Authorization": f"bearer {good}"}) == (200, "")
    assert await status({"X-API-Key": good}) == (200, "")
    # a REST request takes no key from the query string (URLs end up in logs and histories)
    assert (await client.get(ACCOUNTS, params={"api_key": good})).status == 401
    for sub in ("orders", "fills", "balances", "positions", "differences"):
        assert (await client.get(f"{ACCOUNTS}/main/{sub}")).status == 401, sub
        answer = await client.get(f"{ACCOUNTS}/main/{sub}", headers={"X-API-Key": market_only})
        assert answer.status == 403, sub
    # tradehub's own log lines (the service runs without aiohttp's access log; the test server has one)
    logged = "\n".join(repr(r.__dict__) for r in caplog.records if r.name != "aiohttp.access")
    for key in (good, secret, revoked, market_only):
        assert key not in logged and key[12:] not in logged


async def test_a_revoked_key_in_use_is_refused_within_seconds(
    aiohttp_client: AiohttpClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    client = await aiohttp_client(create_app(settings))
    key = await new_key(pool)
    headers = {"Authorization": f"Bearer {key}"}
    assert (await client.get(ACCOUNTS, headers=headers)).status == 200  # now cached
    async with pool.acquire() as conn:
        await revoke_key(conn, key[3:11])
    started = asyncio.get_running_loop().time()
    while (await client.get(ACCOUNTS, headers=headers)).status == 200:
        assert asyncio.get_running_loop().time() - started < 5, "still accepted after 5 s"
        await asyncio.sleep(0.1)
    response = await client.get(ACCOUNTS, headers=headers)
    assert response.status == 401 and await response.json() == {"error": "API key revoked"}


async def test_cli_prints_the_key_once_and_lists_no_hash(
    settings: Settings, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    create = Namespace(command="create", scope=["account:read", "account:read"], name="grafana")
    assert await run_keys(settings, create) == 0
    out, err = capsys.readouterr()
    text = out.strip()
    assert KEY_FORMAT.match(text) and out.count("th_") == 1
    key_id = text[3:11]
    assert "not shown again" in err and text not in err
    async with pool.acquire() as conn:
        [key] = await list_keys(conn)
    assert (key.id, key.name, key.scopes, key.revoked_at) == (key_id, "grafana", ("account:read",), None)

    assert await run_keys(settings, Namespace(command="list")) == 0
    listed = capsys.readouterr().out
    digest = digest_of(text[12:])
    assert key_id in listed and "grafana" in listed and "account:read" in listed and "revoked -" in listed
    assert text[12:] not in listed and digest.hex() not in listed

    assert await run_keys(settings, Namespace(command="revoke", id=key_id)) == 0
    assert capsys.readouterr().out == f"revoked {key_id}\n"
    assert await run_keys(settings, Namespace(command="revoke", id=key_id)) == 0
    assert capsys.readouterr().out == f"{key_id} was already revoked\n"
    assert await run_keys(settings, Namespace(command="revoke", id="ffffffff")) == 1
    assert await run_keys(settings, Namespace(command="list")) == 0
    assert "revoked -" not in capsys.readouterr().out


def test_python_m_services_api_keys(tag: str, make_settings: Callable[..., Settings]) -> None:
    """The dispatch, in a process of its own: create migrates a fresh schema and prints the key."""
    env = {**os.environ, "TRADEHUB_DATABASE_URL": DATABASE_URL, "TRADEHUB_DB_SCHEMA": tag}

    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "services.api", "keys", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    try:
        created = keys("create", "--scope", "account:read", "--name", "ci")
        assert created.returncode == 0, created.stderr
        text = created.stdout.strip()
        assert KEY_FORMAT.match(text)
        listed = keys("list")
        assert listed.returncode == 0 and text[3:11] in listed.stdout and text[12:] not in listed.stdout
        refused = keys("create", "--scope", "account:write")
        assert refused.returncode == 2 and "invalid choice" in refused.stderr
        assert keys("revoke", text).returncode == 2  # the id, never the key, on a command line
    finally:
        asyncio.run(drop_schema(tag))
