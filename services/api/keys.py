"""Typed keys of what the API application holds."""
from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from shared.config import Settings

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", aioredis.Redis)
POOL = web.AppKey("pool", asyncpg.Pool)
