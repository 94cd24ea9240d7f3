"""`make run` / `make demo`: every service as a local process, logs under ./var/log,
stopped together (SIGTERM, then SIGKILL after the grace period) on Ctrl-C.

`make demo-kill` (`stack.py demo --kill-receivers-at S --kill-for K`): S seconds in, the receivers
are SIGKILLed, started again K seconds later, and the demo's summary says per venue what the
simulator made, what was stored and what the gap records healed (scripts/demo_count.py)."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_count  # noqa: E402
from infra import VAR, ensure_infra, stop_embedded  # noqa: E402
from local_cluster import LocalCluster  # noqa: E402

SERVICES = ["processor", "receivers", "general", "api"]
GRACE_S = 15


def start(name: str, env: dict[str, str], module: str = "") -> subprocess.Popen[bytes]:
    logs = VAR / "log"
    logs.mkdir(parents=True, exist_ok=True)
    out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child until it exits
    # A process group of its own: Ctrl-C reaches this script alone, which takes the demo summary
    # while everything still runs, then stops the services in order.
    return subprocess.Popen([sys.executable, "-m", f"services.{module or name}"], env=env, stdout=out,
                            stderr=subprocess.STDOUT, process_group=0)


def demo_summary(env: dict[str, str], since_us: int) -> None:
    """Halt the simulated market, let the pipeline drain and the backfills finish, then print per
    venue: trades made (= sent), stored, duplicates, candles, and the run's gap records."""
    from shared.config import load_settings

    settings = load_settings(env)
    sim = f"http://127.0.0.1:{env.get('TRADEHUB_SIMULATOR_PORT', '8765')}"
    api = f"http://127.0.0.1:{env.get('TRADEHUB_API_PORT', '8000')}"
    try:
        demo_count.get_json(f"{sim}/control?mode=paused", method="POST")
        print("demo summary: the simulated market is halted; waiting for the pipeline and the backfills",
              flush=True)
        venues = demo_count.settled(sim, api, settings.database_url, settings.db_schema, since_us)
    except OSError as exc:
        print(f"demo summary unavailable: {exc}", file=sys.stderr)
        return
    print("demo summary (this run):", flush=True)
    print("\n".join(demo_count.lines(venues)), flush=True)
    print(failover_losses(env), flush=True)


def failover_losses(env: dict[str, str]) -> str:
    """What the producers counted lost to a Redis failover (<stream>:lost, shared/write_audit.py)."""
    from shared.config import load_settings
    from shared.constants import ALL_FAMILIES, family_streams, lost_key
    from shared.redis_connect import redis_client_sync

    settings = load_settings(env)
    client = redis_client_sync(settings)
    try:
        lost = {stream: sum(int(n) for n in client.hvals(lost_key(stream)))
                for family in ALL_FAMILIES
                for stream in family_streams(settings.streams.prefix, family, settings.streams.partitions)}
    finally:
        client.close()
    where = ", ".join(f"{stream} {n}" for stream, n in lost.items() if n)
    return f"stream entries lost to a Redis failover (acknowledged, then gone): {sum(lost.values())}" + (
        f" ({where})" if where else "")


def forget_previous_market(env: dict[str, str]) -> None:
    """A demo starts a new simulator, a new market: where each feed stopped in an earlier run (trade
    ids and feed states in Redis) belongs to a market that is gone, and would read as a restart gap."""
    from shared.config import load_settings
    from shared.redis_connect import redis_client_sync

    settings = load_settings(env)
    client = redis_client_sync(settings)
    try:
        prefix = settings.streams.prefix
        keys = [*client.scan_iter(f"{prefix}:trade_position:*"), *client.scan_iter(f"{prefix}:feed:*")]
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def demo_accounts(env: dict[str, str]) -> None:
    """The simulator's demo accounts in the vault, under a master key kept in ./var (made once), so
    the demo's private streams, reconciliation and account routes have something to show."""
    from services.simulator.account_desk import DEMO_ADDRESS, DEMO_KEYS
    from shared.vault import new_master_key

    key_file = VAR / "demo-master.key"
    if not key_file.exists():
        VAR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(new_master_key() + "\n")
        key_file.chmod(0o600)
    env.setdefault("TRADEHUB_MASTER_KEY_FILE", str(key_file))
    accounts: list[tuple[str, str, str, list[str]]] = [
        (f"demo-{venue}", venue, f"{key}\n{secret}\n{passphrase}\n", [])
        for venue, (key, secret, passphrase) in DEMO_KEYS.items()]
    accounts.append(("demo-hyperliquid", "hyperliquid", "", ["--address", DEMO_ADDRESS]))
    accounts.append(("demo-lighter", "lighter", "", ["--address", "1"]))  # a Lighter account index
    listed = subprocess.run([sys.executable, "-m", "services.general", "accounts", "list"], env=env,
                            capture_output=True, text=True)
    for account_id, venue, secrets, extra in accounts:
        if account_id in listed.stdout:
            continue
        added = subprocess.run([sys.executable, "-m", "services.general", "accounts", "add", account_id,
                                "--exchange", venue, *(["--stdin"] if secrets else []), *extra],
                               env=env, input=secrets, capture_output=True, text=True)
        print(added.stdout.strip() or added.stderr.strip(), flush=True)


class KillPlan:
    """SIGKILL the receivers `at` seconds in, start them again `down` seconds later."""

    def __init__(self, at: float, down: float) -> None:
        self.at, self.down = at, down
        self.killed = self.restarted = False

    def step(self, procs: dict[str, subprocess.Popen[bytes]], env: dict[str, str], elapsed: float) -> None:
        if not self.killed and elapsed >= self.at:
            procs["receivers"].send_signal(signal.SIGKILL)
            procs["receivers"].wait(10)
            self.killed = True
            print(f"receivers SIGKILLed at {elapsed:.0f} s; starting again in {self.down:g} s", flush=True)
        elif self.killed and not self.restarted and elapsed >= self.at + self.down:
            procs["receivers"] = start("receivers", env)
            self.restarted = True
            print(f"receivers started again at {elapsed:.0f} s", flush=True)


class MasterKill:
    """SIGKILL, `at` seconds in, the cluster master holding the first trades partition; say when its
    replica took over, and when the processor group read there an entry written after the failover
    (receivers and processor reconnected by themselves: nothing was restarted)."""

    def __init__(self, cluster: LocalCluster, env: dict[str, str], at: float) -> None:
        from shared.config import load_settings
        from shared.constants import family_streams
        from shared.redis_connect import redis_client_sync

        settings = load_settings(env)
        self.stream = family_streams(settings.streams.prefix, "trades", settings.streams.partitions)[0]
        self.cluster, self.at, self.client = cluster, at, redis_client_sync(settings)
        self.killed_at = 0.0
        self.failed_over_ms = 0  # entries past this time were written on the promoted replica
        self.done = False

    def step(self, elapsed: float) -> None:
        if not self.killed_at and elapsed >= self.at:
            port = self.cluster.master_of(self.stream)
            self.cluster.kill(port)
            self.killed_at = time.monotonic()
            print(f"Redis master {port} (holding {self.stream}) SIGKILLed at {elapsed:.0f} s", flush=True)
            self.cluster.wait_failover(port, 30)
            self.failed_over_ms = time.time_ns() // 1_000_000
            print(f"  its replica took over after {time.monotonic() - self.killed_at:.1f} s", flush=True)
        elif self.killed_at and not self.done and self._read_again():
            self.done = True
            print(f"  the processor reads {self.stream} again (new entries) "
                  f"{time.monotonic() - self.killed_at:.1f} s after the kill", flush=True)

    def _read_again(self) -> bool:
        from redis.exceptions import RedisError

        try:
            groups = self.client.xinfo_groups(self.stream)
        except RedisError:
            return False
        read_ms = [int(g["last-delivered-id"].split(b"-")[0]) for g in groups if g["name"] == b"processor"]
        return bool(read_ms) and read_ms[0] > self.failed_over_ms

    def close(self) -> None:
        self.client.close()


def processor_envs(env: dict[str, str], count: int) -> dict[str, dict[str, str]]:
    """The processors beyond the first: each its own instance name (its consumers and heartbeat)
    and metrics port; the first keeps the host name and the usual port."""
    base = int(env.get("TRADEHUB_PROCESSOR_METRICS_PORT", "9102"))
    return {f"processor-{n}": {**env, "TRADEHUB_SERVICE_INSTANCE": f"processor-{n}",
                               "TRADEHUB_PROCESSOR_METRICS_PORT": str(base + 10 * (n - 1))}
            for n in range(2, count + 1)}


class ProcessorWork:
    """Events each processor stored (tradehub_events_stored_total on its /metrics), sampled through
    the run so a processor killed midway keeps its last count."""

    def __init__(self, env: dict[str, str], extra: dict[str, dict[str, str]], kill_at: float) -> None:
        self.ports = {"processor": env.get("TRADEHUB_PROCESSOR_METRICS_PORT", "9102")}
        self.ports.update({name: own["TRADEHUB_PROCESSOR_METRICS_PORT"] for name, own in extra.items()})
        self.stored: dict[str, int] = {}
        self.killed: set[str] = set()
        self.next_at = 0.0
        self.kill_at = kill_at  # SIGKILL the last processor this many seconds in (0: never)

    def step(self, procs: dict[str, subprocess.Popen[bytes]], elapsed: float) -> None:
        victim = list(self.ports)[-1]
        if self.kill_at and len(self.ports) > 1 and elapsed >= self.kill_at and victim not in self.killed:
            self.sample(now=True)  # its count up to the kill
            procs[victim].kill()
            self.killed.add(victim)
            print(f"{victim} SIGKILLed at {elapsed:.0f} s; the others take its partitions over", flush=True)
        self.sample()

    def sample(self, now: bool = False) -> None:
        if len(self.ports) < 2 or (time.monotonic() < self.next_at and not now):
            return
        self.next_at = time.monotonic() + 5
        for name, port in self.ports.items():
            if name in self.killed and name in self.stored:
                continue  # its last sample before the kill stands
            count = demo_count.metric_sum(f"http://127.0.0.1:{port}/metrics", "tradehub_events_stored_total")
            if count is not None:
                self.stored[name] = count

    def report(self) -> None:
        if len(self.ports) > 1:
            self.sample(now=True)
            print(self.summary(), flush=True)

    def summary(self) -> str:
        return "events stored per processor: " + ", ".join(
            f"{name} {self.stored.get(name, 0):,}" + (" (SIGKILLed)" if name in self.killed else "")
            for name in self.ports)


def kill_pending(kill: KillPlan | None, name: str) -> bool:
    """The receivers are down on purpose."""
    return kill is not None and name == "receivers" and kill.killed and not kill.restarted


def stop_services(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM every service, SIGKILL what did not stop within the grace period."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    end = time.monotonic() + GRACE_S
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in {GRACE_S}s: killed", file=sys.stderr)
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["run", "demo"])
    parser.add_argument(
        "--seconds", type=float, default=0, help="stop by itself after this long (0 = until Ctrl-C)"
    )
    parser.add_argument("--kill-receivers-at", type=float, default=0, metavar="S",
                        help="demo: SIGKILL the receivers S seconds in (0 = never)")
    parser.add_argument("--kill-for", type=float, default=10, metavar="K",
                        help="and start them again K seconds later")
    parser.add_argument("--kill-master-at", type=float, default=0, metavar="S",
                        help="with --cluster: SIGKILL the Redis master of th:{trades:0} S seconds in")
    parser.add_argument("--processors", type=int, default=1, metavar="N",
                        help="run N processors sharing the stream partitions (processor, processor-2, ...)")
    parser.add_argument("--kill-processor-at", type=float, default=0, metavar="S",
                        help="with --processors 2 or more: SIGKILL the last processor S seconds in")
    parser.add_argument("--cluster", action="store_true",
                        help="on a local Redis Cluster (3 masters, 3 replicas; scripts/local_cluster.py), "
                             "streams in 3 partitions")
    args = parser.parse_args()
    env = dict(os.environ)
    cluster = LocalCluster() if args.cluster else None
    if cluster is not None:
        env["TRADEHUB_REDIS_URL"] = cluster.start()
        env.setdefault("TRADEHUB_STREAM_PARTITIONS", "3")
        print(f"local Redis Cluster up: {env['TRADEHUB_REDIS_URL']}", flush=True)
    urls = ensure_infra(env)
    env.update(urls)
    if args.mode == "demo":
        env.setdefault("TRADEHUB_CONFIG", "deploy/demo.toml")
        forget_previous_market(env)
        demo_accounts(env)
    names = (["simulator"] if args.mode == "demo" else []) + SERVICES
    procs = {}
    started_us = time.time_ns() // 1000
    for name in names:
        procs[name] = start(name, env)
        if name == "simulator":
            time.sleep(1)
    extra = processor_envs(env, args.processors)
    procs.update({name: start(name, own, module="processor") for name, own in extra.items()})
    work = ProcessorWork(env, extra, args.kill_processor_at)
    port = env.get("TRADEHUB_API_PORT", "8000")
    print(f"tradehub {args.mode}: {', '.join(names)} started; logs in {VAR}/log", flush=True)
    print(f"  health  http://127.0.0.1:{port}/ready   data  http://127.0.0.1:{port}/api/v1/trades",
          flush=True)
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    began = time.monotonic()
    deadline = began + args.seconds if args.seconds else None
    kill = KillPlan(args.kill_receivers_at, args.kill_for) if args.kill_receivers_at else None
    master_kill = MasterKill(cluster, env, args.kill_master_at) if cluster and args.kill_master_at else None
    failed = ""
    while not stop["now"] and not failed and (deadline is None or time.monotonic() < deadline):
        time.sleep(0.5)
        if kill is not None:
            kill.step(procs, env, time.monotonic() - began)
        if master_kill is not None:
            master_kill.step(time.monotonic() - began)
        work.step(procs, time.monotonic() - began)
        failed = next((n for n, p in procs.items()
                       if p.poll() is not None and not kill_pending(kill, n) and n not in work.killed), "")
    if args.mode == "demo" and not failed:
        demo_summary(env, started_us)
        work.report()
    if failed:
        print(f"{failed} exited with {procs[failed].returncode}: see {VAR}/log/{failed}.log", file=sys.stderr)
    stop_services(procs)
    stop_embedded(urls)
    if master_kill is not None:
        master_kill.close()
    if cluster is not None:
        cluster.stop()
    print("stopped", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
