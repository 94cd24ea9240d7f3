"""The services as processes against the simulator on this machine, for the pipeline benchmark
(bench/pipeline.py) and the soak (bench/soak.py): the simulator, the processor and the receivers
(as tests/stack.py starts them), under a fresh stream prefix and schema `pipe<hex>`, removed afterwards.

The receivers read Binance futures and spot trades (aggTrade, trade) of SYMBOLS from the simulator,
nothing else (no candles, funding, pollers, traders or accounts): every trade the simulator sends is
one stored row, so stored == sent is exact. The simulator starts paused; a step sets its rate.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.config import load_settings  # noqa: E402
from shared.constants import stream_key  # noqa: E402

FEEDS = ("binance", "binance_spot")
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT")
TRADE_KEYS = {"binance": "{}@aggTrade", "binance_spot": "{}@trade"}  # the receivers' subscriptions
SERVICES = ("simulator", "processor", "receivers")
# the receivers' counters of trades that never reach the stream (shared/metrics.py)
LOSS_COUNTERS = ("tradehub_events_shed_total", "tradehub_events_dropped_total", "tradehub_feed_gaps_total")
BUFFERED = "tradehub_producer_buffered_events"  # events the receivers hold, not yet in the stream
TICKS = os.sysconf("SC_CLK_TCK")


def say(*parts: object) -> None:
    print("bench/pipeline:", *parts, file=sys.stderr, flush=True)


def proc_stat(pid: int) -> tuple[float, int]:
    """(CPU seconds used, RSS in kB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return cpu, rss


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PipelineStack:
    """One stack: start(), then control() / sent() / stored() / lag() / usage(), then close()."""

    def __init__(self, symbols: tuple[str, ...] = SYMBOLS) -> None:
        self.tag = "pipe" + uuid.uuid4().hex[:8]
        self.settings = load_settings(stream_prefix=self.tag, db_schema=self.tag)
        self.log_dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
        listed = ",".join(symbols)
        ports = {name: free_port() for name in ("simulator", "receivers", "processor")}
        sim = f"127.0.0.1:{ports['simulator']}"
        self.receivers_metrics = f"http://127.0.0.1:{ports['receivers']}/metrics"
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("TRADEHUB_")}
        self.env.update({f"TRADEHUB_{name.upper()}": value for name, value in {
            "stream_prefix": self.tag, "db_schema": self.tag, "redis_url": self.settings.redis_url,
            "database_url": self.settings.database_url, "feeds": ",".join(FEEDS), "binance_symbols": listed,
            "binance_spot_symbols": listed, "simulator_symbols": listed, "binance_channels": "trades",
            "simulator_rate": "1", "simulator_port": str(ports["simulator"]),
            "receivers_metrics_port": str(ports["receivers"]),
            "processor_metrics_port": str(ports["processor"]),
            "poll_functions": "", "traders_enabled": "false", "accounts_enabled": "false",
            "venue_urls": f"binance=ws://{sim},binance_spot=ws://{sim}/spot,"
                          f"binance_rest=http://{sim}/binance,binance_spot_rest=http://{sim}/binance_spot",
        }.items()})
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.sim_url = f"http://{sim}"
        self.keys = {venue: {key.format(s.lower()) for s in symbols} for venue, key in TRADE_KEYS.items()}
        self.subscriptions = sum(len(keys) for keys in self.keys.values())
        self.stream = stream_key(self.tag, "trades")
        self.redis = aioredis.Redis.from_url(self.settings.redis_url)
        self.http = aiohttp.ClientSession()
        self.db: asyncpg.Connection | None = None
        self.keep_logs = False  # a step lost trades: the services' logs say why

    async def start(self) -> None:
        self.start_service("simulator")
        await self._until(self._answers, "the simulator to answer")
        await self.control(mode="paused")
        self.start_service("processor")
        self.db = await asyncpg.connect(self.settings.database_url)
        await self._until(self._migrated, "the processor to migrate the schema")
        self.start_service("receivers")
        await self._until(self._subscribed, "the receivers to subscribe every trade stream")

    def start_service(self, name: str) -> None:
        out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        self.procs[name] = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=ROOT,
                                            env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def stop_all(self, timeout: float = 15) -> dict[str, int | None]:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = None
        return codes

    async def _until(self, check: Any, what: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            failed = [name for name, proc in self.procs.items() if proc.poll() is not None]
            if failed:
                raise RuntimeError(f"{', '.join(failed)} exited; logs in {self.log_dir}")
            try:
                if await check():
                    return
            except (OSError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.3)
        raise TimeoutError(f"waited {seconds:g} s for {what}; logs in {self.log_dir}")

    async def _answers(self) -> bool:
        return bool(await self.sim_stats())

    async def _migrated(self) -> bool:
        assert self.db is not None
        return bool(await self.db.fetchval("SELECT to_regclass($1)", f'"{self.tag}".trades'))

    async def _subscribed(self) -> bool:
        venues = (await self.sim_stats())["venues"]
        return all(keys <= {key for keys_ in venues[venue]["sessions"] for key in keys_}
                   for venue, keys in self.keys.items())

    async def control(self, **query: str | float | int) -> dict[str, Any]:
        params = {key: str(value) for key, value in query.items()}
        async with self.http.post(f"{self.sim_url}/control", params=params) as r:
            body: dict[str, Any] = await r.json()
            if r.status != 200:
                raise RuntimeError(f"simulator refused {query}: {body}")
            return body

    async def sim_stats(self) -> dict[str, Any]:
        async with self.http.get(f"{self.sim_url}/stats") as r:
            body: dict[str, Any] = await r.json()
            return body

    async def sent(self) -> int:
        """Trades the simulator sent on the bench's venues."""
        venues = (await self.sim_stats())["venues"]
        return sum(int(venues[venue]["trades"]) for venue in FEEDS)

    async def stored(self) -> int:
        assert self.db is not None
        return int(await self.db.fetchval(f'SELECT count(*) FROM "{self.tag}".trades'))

    async def lag(self) -> tuple[int, int]:
        """(unread entries of the trades stream summed over its groups, entries ever added)."""
        try:
            info = await self.redis.xinfo_stream(self.stream)
            groups = await self.redis.xinfo_groups(self.stream)
        except aioredis.ResponseError:  # no stream yet
            return 0, 0
        lag = sum(int(group.get("lag") or 0) for group in groups)
        return lag, int(info.get("entries-added") or 0)

    async def losses(self) -> dict[str, float]:
        """The receivers' loss counters (shed, dropped, gaps) and their producer's buffered events,
        each summed over its labels."""
        async with self.http.get(self.receivers_metrics) as r:
            text = await r.text()
        totals = dict.fromkeys((*LOSS_COUNTERS, BUFFERED), 0.0)
        for line in text.splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in totals:
                totals[name] += float(line.rsplit(" ", 1)[1])
        return totals

    def usage(self) -> dict[str, tuple[float, int]]:
        """service -> (CPU seconds, RSS kB)."""
        return {name: proc_stat(self.procs[name].pid) for name in SERVICES}

    async def drain(self, stored_before: int, sent: int, seconds: float) -> tuple[int, float]:
        """Wait until the trades sent since `stored_before` are stored (or `seconds` pass):
        (rows stored since, seconds it took)."""
        started = time.monotonic()
        stored = await self.stored() - stored_before
        while stored < sent and time.monotonic() - started < seconds:
            await asyncio.sleep(0.5)
            stored = await self.stored() - stored_before
        return stored, round(time.monotonic() - started, 2)

    async def close(self) -> None:
        codes = await asyncio.to_thread(self.stop_all)
        if self.keep_logs or any(code != 0 for code in codes.values()):
            say(f"services stopped with {codes}; logs kept in {self.log_dir}")
        else:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        await self.http.close()
        keys = [key async for key in self.redis.scan_iter(match=f"{self.tag}*", count=1000)]
        if keys:
            await self.redis.delete(*keys)
        await self.redis.aclose()
        if self.db is not None:
            await self.db.execute(f'DROP SCHEMA IF EXISTS "{self.tag}" CASCADE')  # our own scratch name
            await self.db.close()
