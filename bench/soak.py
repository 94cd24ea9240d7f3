"""`make soak`: each service's RSS over a soak at one trade rate, start (after a warm-up) against
end, beside the target (growth <= 5 %). Prints one JSON document on stdout, progress on stderr.

    python bench/soak.py [--minutes 10] [--warmup-s 60] [--rate N] [--live]

The stack is bench/pipeline.py's (bench/pipeline_stack.py). The rate defaults to the sustained rate
of the last pipeline run (var/pipeline.json), else 10,000 trades/s; frames are pre-built, as in the
search, unless --live. At the end the simulator pauses and the bench checks stored == sent and that
the stream lag did not grow over the soak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import DRAIN_S, RESULT, sample_queues  # noqa: E402
from pipeline_stack import LOSS_COUNTERS, SERVICES, PipelineStack, say  # noqa: E402
from pipeline_stats import lag_growth, rss_growth  # noqa: E402

RSS_GROWTH_TARGET = 0.05
DEFAULT_RATE = 10_000
SAMPLE_S = 5.0


def chosen_rate() -> tuple[int, str]:
    """The last pipeline run's sustained rate, or DEFAULT_RATE; and where it came from."""
    try:
        rate = int(json.loads(RESULT.read_text())["sustained_trades_per_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_RATE, "default"
    return (rate, str(RESULT)) if rate > 0 else (DEFAULT_RATE, "default")


async def sample_rss(stack: PipelineStack, started: float, seconds: float,
                     rss: dict[str, list[tuple[float, int]]]) -> None:
    """Each service's RSS every SAMPLE_S, and the last sample once more at the end."""
    while (elapsed := time.monotonic() - started) < seconds:
        for name, (_, kb) in stack.usage().items():
            rss[name].append((elapsed, kb))
        if len(rss["simulator"]) % 12 == 0:
            say(f"  {elapsed:.0f} s: RSS kB " + ", ".join(f"{n} {s[-1][1]:,}" for n, s in rss.items()))
        await asyncio.sleep(SAMPLE_S)
    for name, (_, kb) in stack.usage().items():
        rss[name].append((time.monotonic() - started, kb))


async def soak(rate: int, seconds: float, warmup_s: float, prebuilt: bool) -> dict[str, Any]:
    stack = PipelineStack()
    rss: dict[str, list[tuple[float, int]]] = {name: [] for name in SERVICES}
    try:
        say(f"soak: {rate:,} trades/s for {seconds:g} s (warm-up {warmup_s:g} s) under {stack.tag}")
        await stack.start()
        sent_before, stored_before = await stack.sent(), await stack.stored()
        losses_before = await stack.losses()
        await stack.control(rate=rate / stack.subscriptions, prebuilt=int(prebuilt), mode="normal")
        started = time.monotonic()
        rss_sampling = asyncio.create_task(sample_rss(stack, started, seconds, rss))
        lags, buffered = await sample_queues(stack, started, seconds, sent_before)
        await rss_sampling
        await stack.control(mode="paused")
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.1)
        sent = await stack.sent() - sent_before
        stored, drain_s = await stack.drain(stored_before, sent, DRAIN_S)
        losses_after = await stack.losses()
        stack.keep_logs |= stored != sent
    finally:
        await stack.close()
    services = {}
    for name, samples in rss.items():
        growth = rss_growth(samples, warmup_s)
        met = growth["growth"] is not None and float(growth["growth"]) <= RSS_GROWTH_TARGET
        services[name] = {**growth, "target_growth": RSS_GROWTH_TARGET, "target_met": met}
    return {
        "rate_asked_per_s": rate,
        "sent_per_s": round(sent / elapsed),
        "seconds": round(elapsed),
        "warmup_s": warmup_s,
        "frames": "pre-built (simulator /control?prebuilt=1)" if prebuilt else "built by the simulator",
        "rss": services,
        "sent": sent,
        "stored": stored,
        "stored_equals_sent": stored == sent,
        "drain_s": drain_s,
        "receivers_lost": {name.removeprefix("tradehub_").removesuffix("_total"):
                           round(losses_after[name] - losses_before[name]) for name in LOSS_COUNTERS},
        "stream_lag": lag_growth(lags),
        "receivers_buffer": lag_growth(buffered, unit="events"),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_after": round(os.getloadavg()[0], 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="the whole soak, warm-up included")
    parser.add_argument("--warmup-s", type=float, default=60.0, help="RSS growth is measured from here")
    parser.add_argument("--rate", type=int, default=0, help="trades/s (default: the last pipeline run's)")
    parser.add_argument("--live", action="store_true", help="frames built by the simulator, not pre-built")
    args = parser.parse_args()
    rate, source = (args.rate, "--rate") if args.rate else chosen_rate()
    seconds = args.minutes * 60
    warmup = min(args.warmup_s, seconds / 2)
    result = asyncio.run(soak(rate, seconds, warmup, prebuilt=not args.live))
    result["rate_from"] = source
    result["command"] = f"python bench/soak.py --minutes {args.minutes:g} --warmup-s {warmup:g} --rate {rate}"
    print(json.dumps({"soak": result}, indent=2))


if __name__ == "__main__":
    main()
