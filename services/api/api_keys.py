"""tradehub's own API keys: made by `python -m services.api keys`, checked on every private request.

A key reads "th_" + id (8 hex digits, public: how a key is named, listed and revoked) + "_" + a
secret of 32 random bytes (URL-safe base64). Only SHA-256 of the secret is stored (api_keys), and a
presented secret is compared with hmac.compare_digest: the table alone opens nothing. The scope
"market" (the public data) every key holds; "account:read" opens the user's accounts; "rules:write"
adds and removes alert rules.

Rows are cached per key id for CACHE_TTL_S, so a revoked key is refused within that time in every
API process, while a busy client costs the database one lookup per interval. A key is never
logged, never put in an exception message and never repeated in an answer.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from services.api.keys import POOL
from shared.db import CONNECTION_ERRORS
from shared.events import now_us

MARKET = "market"  # the public data: every key has it, as has a request without a key
ACCOUNT_READ = "account:read"  # the user's accounts: orders, fills, balances, positions
RULES_WRITE = "rules:write"  # add and remove alert rules (services/api/rules.py)
SCOPES = (MARKET, ACCOUNT_READ, RULES_WRITE)
KEY_FORMAT = re.compile(r"^th_(?P<id>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_-]{43})\Z")
KEY_ID = re.compile(r"^[0-9a-f]{8}\Z")
SECRET_BYTES = 32
CACHE_TTL_S = 2.0  # how long a key's row is trusted before it is read again (revocation delay)
CACHE_MAX = 10_000  # rows kept; unknown ids count too, so a flood of made-up keys is bounded
BEARER = "bearer "

KEY_ROW_QUERY = "SELECT id, name, hash, scopes, created_at, revoked_at FROM api_keys WHERE id = $1"
KEYS_QUERY = "SELECT id, name, scopes, created_at, revoked_at FROM api_keys ORDER BY created_at, id"
INSERT_QUERY = """
INSERT INTO api_keys (id, name, hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""
REVOKE_QUERY = """
UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING revoked_at = $2 AS now
"""


@dataclass(frozen=True)
class ApiKey:
    """A key as listed: never its secret nor its hash."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: int
    revoked_at: int | None = None

    def allows(self, scope: str) -> bool:
        return scope == MARKET or scope in self.scopes


@dataclass(frozen=True)
class StoredKey:
    key: ApiKey
    digest: bytes


class KeyRefused(Exception):
    """Why a request's key does not open a scope: 401 (none, unknown, revoked), 403 (lacks the scope)
    or 503 (keys cannot be checked). The message never contains the key."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def http(self) -> web.HTTPException:
        body = json.dumps({"error": self.message})
        if self.status == 401:
            # RFC 6750: a 401 names the scheme the client should use
            return web.HTTPUnauthorized(text=body, content_type="application/json",
                                        headers={"WWW-Authenticate": 'Bearer realm="tradehub"'})
        if self.status == 403:
            return web.HTTPForbidden(text=body, content_type="application/json")
        return web.HTTPServiceUnavailable(text=body, content_type="application/json")


def digest_of(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> tuple[str, str]:
    """(id, secret), fresh from the system's CSPRNG."""
    return secrets.token_hex(4), secrets.token_urlsafe(SECRET_BYTES)


def key_of(key_id: str, secret: str) -> str:
    return f"th_{key_id}_{secret}"


def split_key(text: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None."""
    found = KEY_FORMAT.match(text)
    return None if found is None else (found["id"], found["secret"])


def check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}")
    return tuple(sorted(set(scopes)))


def _api_key(row: asyncpg.Record) -> ApiKey:
    return ApiKey(row["id"], row["name"], tuple(row["scopes"]), row["created_at"], row["revoked_at"])


async def create_key(conn: asyncpg.Connection, scopes: Sequence[str], name: str = "") -> tuple[ApiKey, str]:
    """A new key: its record, and its text, which exists only in the answer (show it once)."""
    wanted = check_scopes(scopes)
    while True:  # 2**32 ids: a collision is rare, and answered with another id
        key_id, secret = new_secret()
        created = now_us()
        if await conn.fetchval(INSERT_QUERY, key_id, name, digest_of(secret), list(wanted), created):
            return ApiKey(key_id, name, wanted, created), key_of(key_id, secret)


async def list_keys(conn: asyncpg.Connection) -> list[ApiKey]:
    return [_api_key(row) for row in await conn.fetch(KEYS_QUERY)]


async def revoke_key(conn: asyncpg.Connection, key_id: str) -> bool | None:
    """True when revoked now, False when it already was, None when there is no such key."""
    row = await conn.fetchrow(REVOKE_QUERY, key_id, now_us())
    return None if row is None else bool(row["now"])


class KeyCache:
    """Key rows by id, each trusted for `ttl_s`; an id with no row is remembered as None."""

    def __init__(self, ttl_s: float = CACHE_TTL_S, max_rows: int = CACHE_MAX) -> None:
        self.ttl_s = ttl_s
        self.max_rows = max_rows
        self._rows: dict[str, tuple[float, StoredKey | None]] = {}

    async def stored(self, pool: asyncpg.Pool, key_id: str) -> StoredKey | None:
        now = time.monotonic()
        cached = self._rows.get(key_id)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        row = await pool.fetchrow(KEY_ROW_QUERY, key_id)
        found = None if row is None else StoredKey(_api_key(row), bytes(row["hash"]))
        if len(self._rows) >= self.max_rows:
            self._rows.clear()
        self._rows[key_id] = (now, found)
        return found


KEY_CACHE = web.AppKey("api_key_cache", KeyCache)


def key_text(request: web.Request, allow_query: bool = False) -> str | None:
    """The key a request presents: Authorization: Bearer, X-API-Key, or (WebSocket) ?api_key=."""
    auth = request.headers.get("Authorization", "")
    if auth[:len(BEARER)].lower() == BEARER:
        return auth[len(BEARER):].strip() or None
    given = request.headers.get("X-API-Key", "").strip()
    if not given and allow_query:
        given = request.query.get("api_key", "").strip()
    return given or None


async def verify(cache: KeyCache, pool: asyncpg.Pool, text: str) -> ApiKey:
    """The key's record when the text is a live key; KeyRefused(401) otherwise."""
    parts = split_key(text)
    stored = None if parts is None else await cache.stored(pool, parts[0])
    if parts is None or stored is None:
        raise KeyRefused(401, "unknown API key")
    if not hmac.compare_digest(stored.digest, digest_of(parts[1])):
        raise KeyRefused(401, "unknown API key")  # a wrong secret says no more than a wrong id
    if stored.key.revoked_at is not None:
        raise KeyRefused(401, "API key revoked")
    return stored.key


async def authorize(request: web.Request, scope: str, allow_query: bool = False) -> ApiKey:
    """The request's key, when it opens `scope`; KeyRefused saying why not."""
    text = key_text(request, allow_query)
    if text is None:
        how = "Authorization: Bearer <key> or X-API-Key" + (" or ?api_key=" if allow_query else "")
        raise KeyRefused(401, f"an API key with {scope} is required ({how})")
    try:
        key = await verify(request.app[KEY_CACHE], request.app[POOL], text)
    except CONNECTION_ERRORS as exc:
        raise KeyRefused(503, "database unavailable: API keys cannot be checked") from exc
    if not key.allows(scope):
        raise KeyRefused(403, f"the API key lacks the scope {scope}")
    return key


async def require_scope(request: web.Request, scope: str) -> ApiKey:
    """For a handler: the key, or the JSON 401/403/503 answer raised."""
    try:
        return await authorize(request, scope)
    except KeyRefused as exc:
        raise exc.http() from None
