"""Backups against the real PostgreSQL: pg_dump of the test's schema, its manifest, rotation,
the restore check in a scratch database, the CLI, and no password anywhere in sight."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from services.general.backups import (
    SCRATCH_PREFIX,
    Backup,
    libpq_env,
    list_backups,
    restore_check,
    rotate,
    select_kept,
    take_backup,
)
from shared.config import Settings, load_settings
from shared.db import day_start_us
from tests.conftest import DATABASE_URL

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pa55-not-to-be-seen"  # trust auth accepts any password, so it can ride in the url
URL_WITH_PASSWORD = DATABASE_URL.replace("postgres@", f"postgres:{PASSWORD}@")
SCRATCH_DBS_SQL = "SELECT count(*) FROM pg_database WHERE datname LIKE $1"


async def _fill(pool: asyncpg.Pool) -> None:
    """Trades on three days (two partitions and the default) and a small table of our own."""
    now = datetime.now(UTC)
    rows = []
    for offset, count in ((0, 5), (-1, 3), (-30, 2)):  # -30 days: no partition, lands in trades_default
        ts = day_start_us(now + timedelta(days=offset)) + 1_000_000
        rows += [("binance", "BTC-USDT", f"{offset}-{n}", "BTCUSDT", Decimal("100.5"), Decimal("0.1"), "buy",
                  ts + n, ts + n) for n in range(count)]
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO trades (exchange, symbol, trade_id, raw_symbol, price, size, side, ts, recv_ts) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", rows)
        await conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        await conn.execute("INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 42) g")


async def test_backup_now_writes_a_dump_and_its_row_counts(
        pool: asyncpg.Pool, make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    await _fill(pool)
    settings = make_settings(backup_dir=str(tmp_path))
    backup = await take_backup(settings)
    assert backup.path.exists() and backup.size > 0
    assert backup.path.read_bytes()[:5] == b"PGDMP"  # custom format
    assert not list(tmp_path.glob("*.partial"))
    counts = backup.counts()
    assert counts is not None
    assert counts["notes"] == 42 and counts["trades_default"] == 2
    assert sum(n for table, n in counts.items() if table.startswith("trades_")) == 10
    assert list_backups(tmp_path, settings.db_schema) == [backup]


async def test_restore_check_counts_match_and_scratch_db_is_dropped(
        pool: asyncpg.Pool, make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    await _fill(pool)
    settings = make_settings(backup_dir=str(tmp_path))
    backup = await take_backup(settings)
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO notes VALUES (43, 'after the dump')")  # not in the dump's snapshot
        scratch_before = await conn.fetchval(SCRATCH_DBS_SQL, SCRATCH_PREFIX + "%")
    result = await restore_check(settings, backup)
    assert result.ok, result.mismatches
    assert result.restored == result.expected and result.restored["notes"] == 42
    async with pool.acquire() as conn:
        assert await conn.fetchval(SCRATCH_DBS_SQL, SCRATCH_PREFIX + "%") == scratch_before


async def test_restore_check_reports_a_mismatch(
        pool: asyncpg.Pool, make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    await _fill(pool)
    settings = make_settings(backup_dir=str(tmp_path))
    backup = await take_backup(settings)
    manifest = json.loads(backup.manifest.read_text())
    manifest["counts"]["notes"] = 41  # as if the dump had lost a row
    backup.manifest.write_text(json.dumps(manifest))
    result = await restore_check(settings, backup)
    assert not result.ok
    assert result.mismatches == {"notes": (41, 42)}


def _backup(directory: Path, taken: datetime, schema: str = "s") -> Backup:
    path = directory / f"tradehub-{schema}-{taken:%Y%m%dT%H%M%SZ}.dump"
    path.write_bytes(b"PGDMP")
    path.with_suffix(".json").write_text('{"counts": {}}')
    return Backup(path, schema, taken, 5)


def test_rotation_keeps_newest_per_day_and_per_week(tmp_path: Path) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
    made = [_backup(tmp_path, start + timedelta(days=day, hours=hour))
            for day in range(60) for hour in (1, 13)]
    kept = select_kept(made, daily=7, weekly=4)
    newest_of_day = {b.taken.date(): b for b in sorted(made, key=lambda b: b.taken)}  # the later one wins
    days = sorted(newest_of_day)[-7:]
    expected = {newest_of_day[day].path for day in days}
    # ISO weeks: the newest backup of each of the last 4 weeks (the current week's is today's)
    by_week = {b.taken.isocalendar()[:2]: b for b in sorted(made, key=lambda b: b.taken)}
    expected |= {by_week[week].path for week in sorted(by_week)[-4:]}
    # the last day is Thursday 2024-02-29: the two newest weeks' newest backups are among the 7 days'
    assert kept == expected and len(kept) == 7 + 2

    settings = load_settings({}, backup_dir=str(tmp_path), db_schema="s", backup_keep_daily=7,
                             backup_keep_weekly=4)
    other = _backup(tmp_path, start, schema="other")  # another schema's dumps are not ours to rotate
    removed = rotate(settings)
    assert len(removed) == len(made) - len(kept)
    assert {b.path for b in list_backups(tmp_path, "s")} == kept
    assert other.path.exists()
    assert {p.with_suffix(".dump") for p in tmp_path.glob("tradehub-s-*.json")} == kept  # manifests follow


def test_password_goes_to_libpq_env_not_argv() -> None:
    env = libpq_env("postgresql://user:p%40ss@db.example:6543/market?sslmode=require", dbname="scratch")
    assert (env["PGUSER"], env["PGPASSWORD"]) == ("user", "p@ss")
    assert (env["PGHOST"], env["PGPORT"]) == ("db.example", "6543")
    assert (env["PGDATABASE"], env["PGSSLMODE"]) == ("scratch", "require")


async def _cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.general", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_cli_backup_now_list_restore_check(pool: asyncpg.Pool, tag: str, tmp_path: Path) -> None:
    await _fill(pool)
    env = {**os.environ, "TRADEHUB_DATABASE_URL": URL_WITH_PASSWORD, "TRADEHUB_DB_SCHEMA": tag,
           "TRADEHUB_BACKUP_DIR": str(tmp_path), "TRADEHUB_LOG_LEVEL": "DEBUG"}
    code, out = await _cli("backup", "now", env=env)
    assert code == 0, out
    assert "backup ok: tradehub-" in out
    code, listing = await _cli("backup", "list", env=env)
    assert code == 0 and f"tradehub-{tag}-" in listing and " rows in " in listing
    code, check = await _cli("backup", "restore-check", env=env)
    assert code == 0, check
    assert "restore check ok" in check and "MISMATCH" not in check
    for output in (out, listing, check):
        assert PASSWORD not in output


async def test_cli_restore_check_without_backups_fails(tag: str, tmp_path: Path) -> None:
    env = {**os.environ, "TRADEHUB_DB_SCHEMA": tag, "TRADEHUB_BACKUP_DIR": str(tmp_path)}
    code, out = await _cli("backup", "restore-check", env=env)
    assert code == 1 and "no backup" in out


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:1/postgres"])
async def test_backup_of_an_unreachable_database_fails_cleanly(
        make_settings: Callable[..., Settings], tmp_path: Path, url: str) -> None:
    from services.general.backups import BackupError
    with pytest.raises(BackupError, match="cannot connect"):
        await take_backup(make_settings(database_url=url, backup_dir=str(tmp_path)))
    assert not list(tmp_path.iterdir())
