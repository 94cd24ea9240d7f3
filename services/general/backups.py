"""PostgreSQL backups of the configured schema: pg_dump in custom format, rotation keeping N
daily and M weekly dumps, and a restore check that loads a dump into a scratch database
and compares per-table row counts.

The dump runs on a snapshot exported by our own REPEATABLE READ transaction, in which the
rows are counted afterwards, so the counts written beside the dump (its manifest) are
exactly what it holds even while trades keep arriving: the restore check compares them.
The connection goes to pg_dump/pg_restore through libpq variables, never on the command
line (visible in `ps`) nor in a log.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import asyncpg

from shared.config import Settings

log = logging.getLogger(__name__)
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
DUMP_NAME = re.compile(r"^tradehub-(?P<schema>[a-z_][a-z0-9_]*)-(?P<taken>\d{8}T\d{6}Z)\.dump$")
STAMP = "%Y%m%dT%H%M%SZ"
TABLES_SQL = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname
"""  # plain tables and leaf partitions: each row counted once
EXPORT_SNAPSHOT_SQL = "SELECT pg_export_snapshot()"
CREATE_DB_SQL = 'CREATE DATABASE "{name}" TEMPLATE template0'  # name: SCRATCH_PREFIX + hex, checked
DROP_DB_SQL = 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
DROP_SCHEMA_SQL = 'DROP SCHEMA IF EXISTS "{schema}" CASCADE'  # in the scratch database only
COUNT_SQL = 'SELECT count(*) FROM "{schema}"."{table}"'  # identifiers checked against IDENTIFIER
SCRATCH_PREFIX = "tradehub_check_"
LOCK_WAIT = "120s"  # pg_dump gives up (and the backup is retried later) rather than queue behind a long lock
# connection url parameter -> libpq environment variable
LIBPQ_ENV = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
             "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT", "host": "PGHOST", "port": "PGPORT",
             "user": "PGUSER",
             "password": "PGPASSWORD", "dbname": "PGDATABASE", "application_name": "PGAPPNAME"}


class BackupError(Exception):
    """A dump, restore or check did not complete; the message says which step and why."""


@dataclass(frozen=True)
class Backup:
    """One dump file of one schema, taken at `taken` (UTC), with its manifest beside it."""

    path: Path
    schema: str
    taken: datetime
    size: int

    @property
    def manifest(self) -> Path:
        return self.path.with_suffix(".json")

    def counts(self) -> dict[str, int] | None:
        """Row counts at dump time, None when the manifest is missing."""
        try:
            return dict(json.loads(self.manifest.read_text())["counts"])
        except (OSError, ValueError, KeyError):
            return None


@dataclass
class CheckResult:
    """Per-table counts in the dump's manifest and in the restored copy."""

    backup: Backup
    expected: dict[str, int]
    restored: dict[str, int]
    mismatches: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches and bool(self.expected)


def checked(name: str) -> str:
    """An identifier we are about to put in SQL text: plain lower-case names only."""
    if not IDENTIFIER.match(name):
        raise BackupError(f"refusing identifier {name!r}: not a plain lower-case name")
    return name


def libpq_env(url: str, dbname: str | None = None) -> dict[str, str]:
    """The process environment without PG* variables, plus the connection as libpq variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    parts = urlsplit(url)
    if parts.hostname:
        env["PGHOST"] = parts.hostname
    if parts.port:
        env["PGPORT"] = str(parts.port)
    if parts.username:
        env["PGUSER"] = unquote(parts.username)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    if parts.path.strip("/"):
        env["PGDATABASE"] = unquote(parts.path.strip("/"))
    for key, value in parse_qsl(parts.query):
        if key in LIBPQ_ENV:
            env[LIBPQ_ENV[key]] = value
    if dbname:
        env["PGDATABASE"] = dbname
    return env


async def run_tool(args: Sequence[str], env: dict[str, str], timeout_s: float) -> None:
    """Run pg_dump/pg_restore (no shell); killed on timeout or cancellation; BackupError on failure."""
    binary = shutil.which(args[0])
    if binary is None:
        raise BackupError(f"{args[0]} not found on PATH")
    proc = await asyncio.create_subprocess_exec(
        binary, *args[1:], env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise BackupError(f"{args[0]} killed after {timeout_s:g}s") from None
    except asyncio.CancelledError:  # the service is stopping: leave no process behind
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        detail = stderr.decode(errors="replace").strip()[-800:]
        raise BackupError(f"{args[0]} exited with {proc.returncode}: {detail}")


async def table_counts(conn: asyncpg.Connection, schema: str) -> dict[str, int]:
    """Rows per table of the schema (leaf partitions counted, their parents not)."""
    counts = {}
    for row in await conn.fetch(TABLES_SQL, schema):
        table = row["relname"]
        if not IDENTIFIER.match(table):
            log.warning("table not counted: unusual name", extra={"schema": schema, "table": table})
            continue
        counts[table] = int(await conn.fetchval(COUNT_SQL.format(schema=checked(schema), table=table)))
    return counts


def list_backups(directory: Path, schema: str) -> list[Backup]:
    """This schema's dumps in `directory`, oldest first."""
    found = []
    for path in directory.glob("tradehub-*.dump") if directory.is_dir() else []:
        match = DUMP_NAME.match(path.name)
        if match and match["schema"] == schema:
            taken = datetime.strptime(match["taken"], STAMP).replace(tzinfo=UTC)
            found.append(Backup(path, schema, taken, path.stat().st_size))
    return sorted(found, key=lambda backup: backup.taken)


async def take_backup(settings: Settings, now: datetime | None = None) -> Backup:
    """pg_dump -Fc of the schema on our own snapshot, written as .partial then renamed."""
    schema = checked(settings.db_schema)
    directory = Path(settings.backup.dir)
    directory.mkdir(parents=True, exist_ok=True)
    taken = (now or datetime.now(UTC)).replace(microsecond=0)
    final = directory / f"tradehub-{schema}-{taken.strftime(STAMP)}.dump"
    partial = final.with_name(final.name + ".partial")
    try:
        conn = await asyncpg.connect(settings.database_url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupError(f"cannot connect to PostgreSQL: {type(exc).__name__}") from exc
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval(EXPORT_SNAPSHOT_SQL)
            await run_tool(["pg_dump", "--format=custom", "--no-password", f"--schema={schema}",
                            f"--snapshot={snapshot}", f"--lock-wait-timeout={LOCK_WAIT}",
                            f"--file={partial}"],
                           libpq_env(settings.database_url), settings.backup.timeout_s)
            # counted after the dump, on its snapshot: holding table locks while pg_dump waits for
            # a migration that waits for those locks would be a deadlock PostgreSQL cannot see
            counts = await table_counts(conn, schema)
        manifest = {"schema": schema, "taken": taken.isoformat(), "counts": counts}
        final.with_suffix(".json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
        await conn.close()
    backup = Backup(final, schema, taken, final.stat().st_size)
    log.info("backup taken", extra={"file": final.name, "bytes": backup.size, "tables": len(counts),
                                    "rows": sum(counts.values())})
    return backup


def select_kept(backups: Sequence[Backup], daily: int, weekly: int) -> set[Path]:
    """The newest dump of each of the last `daily` days and of each of the last `weekly` ISO weeks."""
    kept: set[Path] = set()
    days: set[object] = set()
    weeks: set[object] = set()
    for backup in sorted(backups, key=lambda b: b.taken, reverse=True):
        day, week = backup.taken.date(), backup.taken.isocalendar()[:2]
        if day not in days and len(days) < daily:
            days.add(day)
            kept.add(backup.path)
        if week not in weeks and len(weeks) < weekly:
            weeks.add(week)
            kept.add(backup.path)
    return kept


def rotate(settings: Settings) -> list[Path]:
    """Delete the dumps (and manifests) rotation does not keep; returns what was deleted."""
    backups = list_backups(Path(settings.backup.dir), settings.db_schema)
    kept = select_kept(backups, settings.backup.keep_daily, settings.backup.keep_weekly)
    removed = []
    for backup in backups:
        if backup.path not in kept:
            backup.path.unlink(missing_ok=True)
            backup.manifest.unlink(missing_ok=True)
            removed.append(backup.path)
    if removed:
        log.info("old backups removed", extra={"files": ",".join(p.name for p in removed)})
    return removed


async def restore_check(settings: Settings, backup: Backup) -> CheckResult:
    """pg_restore into a scratch database, count rows per table, compare with the manifest, drop it."""
    expected = backup.counts()
    if expected is None:
        raise BackupError(f"{backup.path.name}: no manifest with row counts beside it")
    scratch = checked(SCRATCH_PREFIX + uuid.uuid4().hex[:12])
    try:
        admin = await asyncpg.connect(settings.database_url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupError(f"cannot connect to PostgreSQL: {type(exc).__name__}") from exc
    try:
        await admin.execute(CREATE_DB_SQL.format(name=scratch))
        try:
            conn = await asyncpg.connect(settings.database_url, database=scratch)
            try:
                # a dump of one schema creates it, even `public`, which template0 already has
                await conn.execute(DROP_SCHEMA_SQL.format(schema=checked(backup.schema)))
                await run_tool(["pg_restore", "--no-owner", "--no-privileges", "--no-password",
                                "--exit-on-error", f"--dbname={scratch}", str(backup.path)],
                               libpq_env(settings.database_url, dbname=scratch), settings.backup.timeout_s)
                restored = await table_counts(conn, backup.schema)
            finally:
                await conn.close()
        finally:
            await admin.execute(DROP_DB_SQL.format(name=scratch))
    finally:
        await admin.close()
    result = CheckResult(backup, expected, restored)
    for table in sorted(expected.keys() | restored.keys()):
        if expected.get(table) != restored.get(table):
            result.mismatches[table] = (expected.get(table), restored.get(table))
    log.info("restore check", extra={"file": backup.path.name, "ok": result.ok, "tables": len(expected),
                                     "mismatches": len(result.mismatches)})
    return result
