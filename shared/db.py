"""PostgreSQL: an asyncpg pool bound to one schema, and plain-SQL migrations applied
in order, each recorded, under an advisory lock so services starting together agree.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from shared.config import Settings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x7472616465  # "trade"
DAY_US = 86_400_000_000

# Errors that mean "the database is not reachable now", as opposed to "it refused the data".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError, asyncpg.exceptions.CrashShutdownError, TimeoutError,
)
# Whatever a scheduled job's database work may raise: logged and tried again, never fatal.
DB_ERRORS = (asyncpg.PostgresError, *CONNECTION_ERRORS)


async def create_pool(settings: Settings, min_size: int = 1) -> asyncpg.Pool:
    """A pool whose connections see only the configured schema."""
    return await asyncpg.create_pool(
        settings.database_url, min_size=min_size, max_size=settings.db_pool_size,
        server_settings={"search_path": settings.db_schema, "application_name": "tradehub"},
        command_timeout=60,
    )


async def migrate(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Apply every migration not yet recorded in <schema>.schema_migrations; return the applied names."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')  # schema name validated by Settings
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["name"] for row in await conn.fetch("SELECT name FROM schema_migrations")}
        for path in sorted(MIGRATIONS.glob("*.sql")):
            if path.name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
            applied.append(path.name)
            log.info("migration applied", extra={"migration": path.name, "schema": schema})
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied


def day_start_us(day: datetime) -> int:
    return int(day.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=UTC).timestamp()) * 1_000_000


async def ensure_daily_partitions(
    conn: asyncpg.Connection, table: str, days_back: int = 1, days_ahead: int = 3
) -> int:
    """Create <table>_pYYYYMMDD partitions around today before rows arrive for them."""
    created = 0
    today = datetime.now(UTC)
    for offset in range(-days_back, days_ahead + 1):
        day = today + timedelta(days=offset)
        name = f"{table}_p{day:%Y%m%d}"
        start = day_start_us(day)
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
        if exists:
            continue
        # identifiers come from our own table names and dates, never from input
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
            f"FOR VALUES FROM ({start}) TO ({start + DAY_US})"
        )
        created += 1
    return created
