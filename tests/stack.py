"""Run tradehub's services as real processes for end-to-end and fault tests."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """Processes of one stack sharing a stream prefix, a schema and free ports; logs in log_dir."""

    def __init__(self, tag: str, log_dir: Path, **settings: Any) -> None:
        self.ports = {name: free_port() for name in ("simulator", "api", "receivers", "processor", "general")}
        self.env = dict(os.environ)
        self.env.update({
            "TRADEHUB_STREAM_PREFIX": tag, "TRADEHUB_DB_SCHEMA": tag,
            "TRADEHUB_REDIS_URL": os.environ.get("TRADEHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "TRADEHUB_DATABASE_URL": os.environ.get("TRADEHUB_TEST_DATABASE_URL",
                                                    "postgresql://postgres@127.0.0.1:5432/postgres"),
            "TRADEHUB_SIMULATOR_PORT": str(self.ports["simulator"]),
            "TRADEHUB_API_PORT": str(self.ports["api"]),
            "TRADEHUB_RECEIVERS_METRICS_PORT": str(self.ports["receivers"]),
            "TRADEHUB_PROCESSOR_METRICS_PORT": str(self.ports["processor"]),
            "TRADEHUB_GENERAL_METRICS_PORT": str(self.ports["general"]),
            "TRADEHUB_VENUE_URLS": f"binance=ws://127.0.0.1:{self.ports['simulator']}",
            "TRADEHUB_HEARTBEAT_INTERVAL_S": "0.5", "TRADEHUB_SERVICE_INSTANCE": "e2e",
            "TRADEHUB_POLL_FUNCTIONS": "",  # no REST pollers: these stacks never leave the machine
            "TRADEHUB_BACKUP_DIR": str(log_dir / "backups"),  # the general service's dumps, not ./var
        })
        self.env.update({f"TRADEHUB_{k.upper()}": str(v) for k, v in settings.items()})
        self.env.pop("TRADEHUB_CONFIG", None)
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
        )

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(10)

    def stop_all(self, timeout: float = 15) -> dict[str, int | None]:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = None
        return codes

    def get(self, service: str, path: str) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{self.ports[service]}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def wait_for(self, service: str, path: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.get(service, path)
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"{service} never answered {path}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.log_dir.glob("*.log")))
