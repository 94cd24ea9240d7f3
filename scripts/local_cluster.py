"""A 3-master, 3-replica Redis Cluster on loopback ports, from the machine's redis-server: for the
tests (a session fixture), `make demo-cluster`, and by hand:

    python scripts/local_cluster.py up [--base-port 7101]    # prints the redis+cluster:// URL
    python scripts/local_cluster.py down [--base-port 7101]

Six nodes on base..base+5 (their cluster bus on +10000), each in its own directory under the
system's temp dir, no snapshots (`--save ""`), a short cluster-node-timeout so a killed master's
replica takes over within seconds. Default base 7101: clear of Redis (6379), the demo's API
(8000), simulator (8765 and up) and metrics ports (9101-9103).
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from redis.crc import key_slot

NODES = 6  # 3 masters, each with one replica
DEFAULT_BASE_PORT = 7101
NODE_TIMEOUT_MS = 1500  # a master silent this long is failed over to its replica
BUS_OFFSET = 10000  # a node's cluster bus port: its port + 10000
READY_TIMEOUT_S = 30.0


def _answer(port: int, *command: str) -> str:
    run = subprocess.run(["redis-cli", "-p", str(port), *command], capture_output=True, text=True, timeout=5)
    return run.stdout


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_base_port(start: int) -> int:
    """The first base from `start` (steps of 10) whose node and bus ports nobody listens on."""
    for base in range(start, start + 1000, 10):
        if all(_free(p) and _free(p + BUS_OFFSET) for p in range(base, base + NODES)):
            return base
    raise RuntimeError(f"no free ports for a local cluster from {start}")


class LocalCluster:
    """Start with `start()` (or `with` / `async with`), stop and remove with `stop()`."""

    def __init__(self, base_port: int = DEFAULT_BASE_PORT, directory: Path | None = None) -> None:
        self.base_port = base_port
        self.ports = list(range(base_port, base_port + NODES))
        self.directory = directory or Path(tempfile.gettempdir()) / f"tradehub-cluster-{base_port}"
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports[:3])

    def start(self) -> str:
        """Start six nodes, join them (3 masters, 1 replica each), wait until the cluster is ok."""
        shutil.rmtree(self.directory, ignore_errors=True)
        for port in self.ports:
            self.start_node(port)
        for port in self.ports:
            self._wait(lambda p=port: _answer(p, "ping").strip() == "PONG", f"node {port} answers")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "1", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )
        self.wait_ok()
        return self.url

    def start_node(self, port: int) -> None:
        node_dir = self.directory / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        log = open(node_dir / "redis.log", "ab")  # noqa: SIM115 - owned by the node until it exits
        self.procs[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--save", "", "--appendonly", "no",
             "--repl-diskless-sync-delay", "0",  # replicas in sync at once, not after 5 s
             "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,  # Ctrl-C is the owner's
        )
        log.close()

    def wait_ok(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until every live node says cluster_state:ok and each of the 16384 slots has a master, and
        every replica is in sync with a live master."""
        def ok() -> bool:
            return all("cluster_state:ok" in _answer(p, "cluster", "info")
                       and "cluster_slots_ok:16384" in _answer(p, "cluster", "info")
                       for p, proc in self.procs.items() if proc.poll() is None)

        def replicas_in_sync() -> bool:  # a replica that never synced cannot take over
            for port, proc in self.procs.items():
                info = _answer(port, "info", "replication") if proc.poll() is None else ""
                if "role:slave" in info and "master_link_status:up" not in info:
                    return False
            return True
        self._wait(ok, "cluster_state:ok", timeout)
        self._wait(replicas_in_sync, "replica in sync", timeout)

    def wait_failover(self, dead: int, timeout: float = READY_TIMEOUT_S) -> None:
        """Until a replica replaced the dead master: three live masters, none of them `dead`, all ok."""
        def replaced() -> bool:
            masters = self.masters()
            return len(masters) == NODES // 2 and dead not in masters
        self._wait(replaced, f"replica promoted in place of {dead}", timeout)
        self.wait_ok(timeout)

    def masters(self) -> list[int]:
        """Ports of the nodes that are masters now, by the view of a live node."""
        live = next(p for p, proc in self.procs.items() if proc.poll() is None)
        lines = _answer(live, "cluster", "nodes").splitlines()
        return sorted(int(line.split()[1].split("@")[0].rsplit(":", 1)[1]) for line in lines
                      if "master" in line.split()[2] and "fail" not in line.split()[2])

    def master_of(self, key: str) -> int:
        """The port of the master serving `key`'s slot now."""
        slot = key_slot(key.encode())
        for port in self.masters():
            if self._serves(port, slot):
                return port
        raise RuntimeError(f"no master serves slot {slot}")

    def _serves(self, port: int, slot: int) -> bool:
        for line in _answer(port, "cluster", "nodes").splitlines():
            fields = line.split()
            if "myself" in fields[2]:
                for part in fields[8:]:
                    low, _, high = part.partition("-")
                    if low.isdigit() and int(low) <= slot <= int(high or low):
                        return True
        return False

    def kill(self, port: int) -> None:
        """SIGKILL one node (a crash: no goodbye to its peers, nothing flushed)."""
        proc = self.procs[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        """Stop every node and remove their directory."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    @staticmethod
    def _wait(check: object, what: str, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(check) and check():
                return
            time.sleep(0.1)
        raise TimeoutError(f"local cluster: no {what} within {timeout:g} s")

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> LocalCluster:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)


def _down(base_port: int) -> None:
    """Stop the nodes a previous `up` left running (by SHUTDOWN NOSAVE), remove their directory."""
    for port in range(base_port, base_port + NODES):
        if not _free(port):
            _answer(port, "shutdown", "nosave")
    shutil.rmtree(Path(tempfile.gettempdir()) / f"tradehub-cluster-{base_port}", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT)
    args = parser.parse_args(argv)
    if args.action == "down":
        _down(args.base_port)
        return 0
    if not all(_free(p) for p in range(args.base_port, args.base_port + NODES)):
        last = args.base_port + NODES - 1
        print(f"ports {args.base_port}-{last} are taken: `down` first?", file=sys.stderr)
        return 1
    cluster = LocalCluster(args.base_port)
    try:
        print(cluster.start(), flush=True)
    except (subprocess.SubprocessError, TimeoutError, OSError) as exc:
        cluster.stop()
        print(f"local cluster not started: {exc}", file=sys.stderr)
        return 1
    return 0  # the nodes outlive this process (their own process group is not ours to wait for)


if __name__ == "__main__":
    raise SystemExit(main())
