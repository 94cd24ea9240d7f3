"""Receivers benchmark: normalize (parse) frames/s per exchange, receiver -> Redis frames/s, and
cryptofeed's own parsing of the same Binance and Bybit trade frames, alone and into Redis Streams.

`run()` returns one dict (bench/run.py merges it into the `make bench` document); progress goes to
stderr. Frames are the simulator's trade frames (the fixtures' shapes), built once and fed to both
sides. cryptofeed runs in its own venv, ./var/bench-venv (cryptofeed 3.0.1 needs Python >= 3.13),
created here if missing; whatever stops it is reported under "cryptofeed.error".
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from floors import floor_rate  # noqa: E402  (bench/floors.py, beside this file)

from services.receivers.connection import FeedConnection  # noqa: E402
from services.receivers.exchanges import parse_of  # noqa: E402
from services.receivers.venue import Feed  # noqa: E402
from services.simulator.app import VENUES  # noqa: E402
from services.simulator.venue import Session, Sub, VenueState  # noqa: E402
from shared.config import Settings, load_settings  # noqa: E402
from shared.streams import StreamProducer  # noqa: E402

FRAMES = int(os.environ.get("BENCH_RECEIVER_FRAMES", "100000"))
FLOOR_SHARE_TARGET = 0.8  # normalize >= 80 % of the floor of a Decimal-event parse, every venue
RUNS = 3  # every rate, ours and cryptofeed's, is the best of three runs: the machine may be shared
VENV = ROOT / "var" / "bench-venv"
CRYPTOFEED = "cryptofeed[redis]==3.0.1"
# venue -> (symbols, subscription key of a trades channel for a symbol)
TRADE_SUBS: dict[str, tuple[list[str], Callable[[str], str]]] = {
    "binance": (["BTCUSDT", "ETHUSDT"], lambda s: f"{s.lower()}@aggTrade"),
    "binance_spot": (["BTCUSDT", "ETHUSDT"], lambda s: f"{s.lower()}@trade"),
    "bybit": (["BTCUSDT", "ETHUSDT"], lambda s: f"publicTrade.{s}"),
    "bybit_spot": (["BTCUSDT", "ETHUSDT"], lambda s: f"publicTrade.{s}"),
    "okx": (["BTC-USDT-SWAP", "ETH-USDT-SWAP"], lambda s: json.dumps({"channel": "trades", "instId": s})),
    "hyperliquid": (["BTC", "ETH"], lambda s: json.dumps({"type": "trades", "coin": s})),
    "deribit": (["BTC-PERPETUAL", "ETH-PERPETUAL"], lambda s: f"trades.{s}.100ms"),
}


def say(*parts: object) -> None:
    print("bench/receivers:", *parts, file=sys.stderr, flush=True)


def trade_frames(venue: str, count: int, settings: Settings) -> list[bytes]:
    """`count` trade frames of two symbols, alternating, exactly as the simulator sends them."""
    protocol = VENUES[venue][0]
    state = VenueState(venue, settings)
    session = Session(state, 1)
    symbols, key_of = TRADE_SUBS[venue]
    subs = []
    for symbol in symbols:
        key = key_of(symbol)
        extra = json.loads(key) if venue == "okx" else {}
        subs.append(Sub("trades", symbol, key, extra=extra))
    return [protocol.frame(subs[n % len(subs)], session)[0].encode() for n in range(count)]


def normalize_rate(venue: str, frames: list[bytes]) -> dict[str, Any]:
    """parse_frame over every frame, best of RUNS (the receivers' and normalize's parse)."""
    parse = parse_of(venue)
    best, events = float("inf"), 0
    for _ in range(RUNS):
        started = time.perf_counter()
        events = sum(len(parse(raw, 0)) for raw in frames)
        best = min(best, time.perf_counter() - started)
    return {
        "frames": len(frames),
        "events": events,
        "seconds": round(best, 4),
        "frames_per_s": round(len(frames) / best),
    }


async def receiver_to_redis(venue: str, frames: list[bytes], settings: Settings) -> dict[str, Any]:
    """FeedConnection._handle on every frame, a StreamProducer writing to the real Redis, timed
    until the last event is in its stream."""
    import redis.asyncio as aioredis

    redis = aioredis.Redis.from_url(settings.redis_url)
    producer = StreamProducer(redis, settings, source="bench")
    feed = Feed(name=f"bench:{venue}", exchange=venue, url="ws://unused", parse=parse_of(venue))
    connection = FeedConnection(feed, producer)
    stop = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as tasks:
            writer = tasks.create_task(producer.run(stop))
            started = time.perf_counter()
            for n, raw in enumerate(frames):
                await connection._handle(raw, None)  # type: ignore[arg-type]  # no socket: trades need no reply
                if n % 512 == 511:
                    await asyncio.sleep(0)  # a socket read yields as often; the producer flushes meanwhile
            while producer.buffered:
                await asyncio.sleep(0.001)
            elapsed = time.perf_counter() - started
            stop.set()
            await writer
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{settings.streams.prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    return {
        "frames": len(frames),
        "events_written": producer.published,
        "seconds": round(elapsed, 4),
        "frames_per_s": round(len(frames) / elapsed),
    }


def python_for_cryptofeed() -> str | None:
    """cryptofeed 3.0.1 requires Python >= 3.13: TRADEHUB_BENCH_PYTHON, python3.13+ on PATH, or pyenv's."""
    candidates = [os.environ.get("TRADEHUB_BENCH_PYTHON", "")]
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in (13, 14, 15)]
    candidates += sorted(
        glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[3-9]*/bin/python3")), reverse=True
    )
    return next((c for c in candidates if c and runs_313(c)), None)


def runs_313(python: str) -> bool:
    """A pyenv shim exists on PATH even when its version is not selected: try it."""
    check = [python, "-c", "import sys; assert sys.version_info >= (3, 13)"]
    try:
        return subprocess.run(check, capture_output=True, timeout=60).returncode == 0
    except OSError:
        return False


def ensure_cryptofeed_venv() -> Path:
    """./var/bench-venv with cryptofeed 3.0.1 and its Redis extra; RuntimeError says why not."""
    python = VENV / "bin" / "python"
    check = [
        str(python),
        "-c",
        "import importlib.metadata as m, redis; assert m.version('cryptofeed') == '3.0.1'",
    ]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    interpreter = python_for_cryptofeed()
    if interpreter is None:
        raise RuntimeError(
            "cryptofeed 3.0.1 requires Python >= 3.13 and none was found "
            "(set TRADEHUB_BENCH_PYTHON to a python3.13 interpreter)"
        )
    say("creating", VENV, "with", interpreter)
    steps = [
        [interpreter, "-m", "venv", "--clear", str(VENV)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", CRYPTOFEED],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(step)} failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return python


def cryptofeed_rates(frames: dict[str, list[bytes]], settings: Settings) -> dict[str, Any]:
    python = ensure_cryptofeed_venv()
    url = urlparse(settings.redis_url)
    with tempfile.TemporaryDirectory() as directory:
        for venue in ("binance", "bybit"):
            Path(directory, f"{venue}.jsonl").write_bytes(b"\n".join(frames[venue]))
        command = [
            str(python),
            str(ROOT / "bench" / "cryptofeed_bench.py"),
            directory,
            url.hostname or "127.0.0.1",
            str(url.port or 6379),
            f"cfbench{os.getpid()}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"cryptofeed bench failed: {done.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def ratios(ours: dict[str, Any], cryptofeed: dict[str, Any]) -> dict[str, Any]:
    """ours / cryptofeed on the same frames, with the 5x target beside each."""
    out: dict[str, Any] = {}
    for venue in ("binance", "bybit"):
        parse = ours["normalize"][venue]["frames_per_s"] / cryptofeed[venue]["parse"]["frames_per_s"]
        redis = (
            ours["receiver_to_redis"][venue]["frames_per_s"]
            / cryptofeed[venue]["parse_redis"]["frames_per_s"]
        )
        out[venue] = {
            "normalize_vs_cryptofeed_parse": round(parse, 2),
            "normalize_target_met": parse >= 5,
            "receiver_redis_vs_cryptofeed_redis": round(redis, 2),
            "receiver_redis_target_met": redis >= 5,
        }
    floor = ours["floor"]["binance"]["frames_per_s"] / cryptofeed["binance"]["parse"]["frames_per_s"]
    out["binance"]["floor_vs_cryptofeed_parse"] = round(floor, 2)
    return out


def floor_shares(normalize: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    """Each venue's normalize rate as a share of its floor measured in the same run (target >= 0.8)."""
    out = {}
    for venue, rates in normalize.items():
        share = rates["frames_per_s"] / floor[venue]["frames_per_s"]
        out[venue] = {"share": round(share, 3), "target": FLOOR_SHARE_TARGET,
                      "target_met": share >= FLOOR_SHARE_TARGET}
    return out


def run() -> dict[str, Any]:
    settings = load_settings(stream_prefix=f"bench{os.getpid()}", simulator_seed=7)
    say(f"building {FRAMES} trade frames per venue from the simulator")
    frames = {venue: trade_frames(venue, FRAMES, settings) for venue in TRADE_SUBS}
    result: dict[str, Any] = {"frames_per_venue": FRAMES, "normalize": {}, "receiver_to_redis": {}}
    for venue, venue_frames in frames.items():
        result["normalize"][venue] = normalize_rate(venue, venue_frames)
        say("normalize", venue, result["normalize"][venue]["frames_per_s"], "frames/s")
    result["floor"] = {venue: floor_rate(venue, venue_frames, RUNS) for venue, venue_frames in frames.items()}
    result["normalize_share_of_floor"] = floor_shares(result["normalize"], result["floor"])
    for venue, share in result["normalize_share_of_floor"].items():
        floor = result["floor"][venue]["frames_per_s"]
        say("normalize / floor", venue, share["share"], f"(floor {floor} frames/s)")
    for venue, venue_frames in frames.items():
        runs = [asyncio.run(receiver_to_redis(venue, venue_frames, settings)) for _ in range(RUNS)]
        result["receiver_to_redis"][venue] = max(runs, key=lambda run: run["frames_per_s"])
        say("receiver -> redis", venue, result["receiver_to_redis"][venue]["frames_per_s"], "frames/s")
    try:
        say("cryptofeed on the same Binance and Bybit frames")
        result["cryptofeed"] = cryptofeed_rates(frames, settings)
        result["ratios"] = ratios(result, result["cryptofeed"])
    except (RuntimeError, OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        result["cryptofeed"] = {"error": str(exc)}
        say("cryptofeed not measured:", exc)
    return {"receivers": result}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
