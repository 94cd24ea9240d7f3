"""The whole pipeline measured: the real simulator, receivers and processor as processes on this
machine (bench/pipeline_stack.py), Binance futures and spot trades into the real Redis and
PostgreSQL. `run()` returns {"pipeline": {...}} for `make bench`; alone:

    python bench/pipeline.py [--step-seconds S] [--freshness-seconds S] [--rates 5000,10000,...]
                             [--live-freshness]

1. Freshness at 1k/s and 10k/s, on pre-built frames (--live-freshness: the simulator builds them,
   which on a loaded machine cannot keep 10k/s and takes CPU from the pipeline): a trigger on the
   scratch `trades` table (statement level, its transition table) sends at each commit the rows'
   count and 101 quantiles of their recv_ts by pg_notify, which PostgreSQL delivers when the
   transaction commits: landing time (when the bench hears it) minus recv_ts, as p50, p99, max.
   The trigger is dropped before the search below: it costs the store a sort per commit.
2. The sustained rate: a stepped search over total trade rates, each step a rate for
   `--step-seconds`, then paused and drained. A step holds when neither the trades stream's lag
   (summed over its groups) nor the receivers' producer buffer grows (pipeline_stats.lag_growth),
   stored == sent after the drain, and
   the simulator sent at least 95 % of the rate asked. The search stops at the first step that
   fails, then tries once between the last that held and it. Its frames are pre-built (simulator
   /control?prebuilt=1, services/simulator/prebuilt.py): the simulator's own frame building
   (~13 µs a frame) would otherwise be the limit on two cores.
Each step reports the CPU each service used (share of one core).
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

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_stack import BUFFERED, FEEDS, LOSS_COUNTERS, ROOT, SERVICES, PipelineStack, say  # noqa: E402
from pipeline_stats import Landing, freshness, lag_growth, parse_notice  # noqa: E402

STEP_RATES = (5_000, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 80_000, 100_000)  # trades/s
STEP_S = 12.0
FRESHNESS_RATES = (1_000, 10_000)
FRESHNESS_S = 12.0
SAMPLE_S = 0.5
DRAIN_S = 30.0
SOURCE_SHARE = 0.95  # a step whose simulator sent less than this share of the rate did not hold it
SUSTAINED_TARGET = 50_000  # trades/s, every service on this machine
P99_TARGET_MS = 100.0  # at 10k/s
RESULT = ROOT / "var" / "pipeline.json"  # the last run's figures: make soak takes its sustained rate
CHANNEL = "pipebench_landed"


def landing_trigger(schema: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION "{schema}".bench_landed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n bigint; q bigint[];
BEGIN
  SELECT count(*), percentile_disc((SELECT array_agg(g / 100.0) FROM generate_series(0, 100) g))
         WITHIN GROUP (ORDER BY recv_ts)
    INTO n, q FROM landed_rows;
  IF n > 0 THEN PERFORM pg_notify('{CHANNEL}', n || ' ' || array_to_string(q, ' ')); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER bench_landed AFTER INSERT ON "{schema}".trades REFERENCING NEW TABLE AS landed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".bench_landed();"""


async def step(stack: PipelineStack, rate: int, seconds: float, prebuilt: bool) -> dict[str, Any]:
    """One rate for `seconds`, then paused and drained; the figures that judge it."""
    sent_before, stored_before = await stack.sent(), await stack.stored()
    usage_before, losses_before = stack.usage(), await stack.losses()
    await stack.control(rate=rate / stack.subscriptions, prebuilt=int(prebuilt), mode="normal")
    started = time.monotonic()
    samples, buffered = await sample_queues(stack, started, seconds, sent_before)
    await stack.control(mode="paused")
    elapsed = time.monotonic() - started
    usage = stack.usage()
    await asyncio.sleep(0.1)  # the simulator's current tick ends
    sent = await stack.sent() - sent_before
    stored, drain_s = await stack.drain(stored_before, sent, DRAIN_S)
    losses_after = await stack.losses()
    losses = {name.removeprefix("tradehub_").removesuffix("_total"):
              round(losses_after[name] - losses_before[name]) for name in LOSS_COUNTERS}
    growth, buffer = lag_growth(samples), lag_growth(buffered, unit="events")
    stack.keep_logs |= stored != sent
    achieved = sent / elapsed
    held = (not growth["growing"] and not buffer["growing"] and stored == sent
            and achieved >= SOURCE_SHARE * rate)
    result = {
        "rate_asked_per_s": rate,
        "sent_per_s": round(achieved),
        "seconds": round(elapsed, 1),
        "sent": sent,
        "stored": stored,
        "stored_equals_sent": stored == sent,
        "drain_s": drain_s,
        "receivers_lost": losses,
        "stream_lag": growth,
        "receivers_buffer": buffer,
        "cpu_share_of_one_core": {
            name: round((usage[name][0] - usage_before[name][0]) / elapsed, 2) for name in SERVICES
        },
        "held": held,
    }
    say(f"{rate:,}/s asked: sent {achieved:,.0f}/s, stored == sent {stored == sent}, growth: lag "
        f"{growth['growth_share']:.2%}, receivers' buffer {buffer['growth_share']:.2%} -> "
        f"{'held' if held else 'NOT held'}; "
        f"cpu {result['cpu_share_of_one_core']}")
    return result


async def sample_queues(stack: PipelineStack, started: float, seconds: float, sent_before: int
                        ) -> tuple[list[tuple[float, int, int]], list[tuple[float, int, int]]]:
    """Every SAMPLE_S until `seconds` after `started`: (t, the stream's lag, entries added) and
    (t, the receivers' buffered events, trades sent since the step began)."""
    lags: list[tuple[float, int, int]] = []
    buffered: list[tuple[float, int, int]] = []
    while time.monotonic() - started < seconds:
        await asyncio.sleep(SAMPLE_S)
        lag, added = await stack.lag()
        held = int((await stack.losses())[BUFFERED])
        sent = await stack.sent() - sent_before
        now = time.monotonic() - started
        lags.append((now, lag, added))
        buffered.append((now, held, sent))
    return lags, buffered


async def measure_freshness(stack: PipelineStack, seconds: float, prebuilt: bool) -> dict[str, Any]:
    assert stack.db is not None
    landings: list[Landing] = []

    def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        landings.append(parse_notice(payload, time.time_ns() // 1000))

    listener = await asyncpg.connect(stack.settings.database_url)
    await listener.add_listener(CHANNEL, heard)
    await stack.db.execute(landing_trigger(stack.tag))
    out: dict[str, Any] = {}
    try:
        for rate in FRESHNESS_RATES:
            landings.clear()
            figures = await step(stack, rate, seconds, prebuilt)
            out[f"{rate}_per_s"] = {**freshness(landings), "step": figures}
            say(f"freshness at {rate:,}/s: {out[f'{rate}_per_s']['p50_ms']} ms p50, "
                f"{out[f'{rate}_per_s']['p99_ms']} ms p99, {out[f'{rate}_per_s']['max_ms']} ms max")
    finally:
        await stack.db.execute(f'DROP TRIGGER IF EXISTS bench_landed ON "{stack.tag}".trades')
        await listener.close()
    ten = out.get("10000_per_s", {})
    out["p99_target_ms_at_10k"] = P99_TARGET_MS
    out["p99_target_met"] = ten.get("p99_ms") is not None and ten["p99_ms"] <= P99_TARGET_MS
    return out


async def search(stack: PipelineStack, rates: tuple[int, ...], seconds: float) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for rate in rates:
        steps.append(await step(stack, rate, seconds, prebuilt=True))
        if not steps[-1]["held"]:
            held = [s["rate_asked_per_s"] for s in steps if s["held"]]
            if held and steps[-1]["stored_equals_sent"]:  # drained: the next step starts clean
                middle = (held[-1] + rate) // 2 // 1000 * 1000
                if held[-1] < middle < rate:
                    steps.append(await step(stack, middle, seconds, prebuilt=True))
            break
    best = max((s["sent_per_s"] for s in steps if s["held"]), default=0)
    return {
        "sustained_trades_per_s": best,
        "sustained_target_per_s": SUSTAINED_TARGET,
        "sustained_target_met": best >= SUSTAINED_TARGET,
        "steps": steps,
    }


async def measure(step_s: float, freshness_s: float, rates: tuple[int, ...], live: bool) -> dict[str, Any]:
    stack = PipelineStack()
    load_before = os.getloadavg()[0]
    try:
        say(f"starting {', '.join(SERVICES)} under {stack.tag}: {', '.join(FEEDS)} trades, "
            f"{stack.subscriptions} subscriptions")
        await stack.start()
        fresh = await measure_freshness(stack, freshness_s, prebuilt=not live)
        sustained = await search(stack, rates, step_s)
    finally:
        await stack.close()
    result = {
        **{k: v for k, v in sustained.items() if k != "steps"},
        "freshness": fresh,
        "search_steps": sustained["steps"],
        "frames": {
            "freshness": "built by the simulator itself" if live else "pre-built",
            "search": "pre-built",
            "pre-built": "Binance futures and spot trade frames from templates, id and time stamped in "
                         "(simulator /control?prebuilt=1)",
        },
        "setup": {
            "feeds": list(FEEDS),
            "subscriptions": stack.subscriptions,
            "step_s": step_s,
            "freshness_s": freshness_s,
            "command": f"python bench/pipeline.py --step-seconds {step_s:g} "
                       f"--freshness-seconds {freshness_s:g} --rates {','.join(map(str, rates))}"
                       + (" --live-freshness" if live else ""),
        },
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_before": round(load_before, 2),
                    "load_avg_1m_after": round(os.getloadavg()[0], 2)},
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2))
    return result


def run(step_s: float = STEP_S, freshness_s: float = FRESHNESS_S,
        rates: tuple[int, ...] = STEP_RATES, live: bool = False) -> dict[str, Any]:
    return {"pipeline": asyncio.run(measure(step_s, freshness_s, rates, live))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step-seconds", type=float, default=STEP_S, help="each step of the search")
    parser.add_argument("--freshness-seconds", type=float, default=FRESHNESS_S, help="each freshness rate")
    parser.add_argument("--rates", default=",".join(map(str, STEP_RATES)),
                        help="trades/s of the search steps, ascending")
    parser.add_argument("--live-freshness", action="store_true",
                        help="freshness on frames the simulator builds itself")
    args = parser.parse_args()
    rates = tuple(int(r) for r in args.rates.split(","))
    print(json.dumps(run(args.step_seconds, args.freshness_seconds, rates, args.live_freshness), indent=2))


if __name__ == "__main__":
    main()
