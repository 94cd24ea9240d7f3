"""dlq list|show|replay|purge STREAM: look at and act on a stream's dead letters."""
from __future__ import annotations

import argparse
import asyncio
import sys

import msgspec

from shared import dlq
from shared.config import ConfigError, load_settings
from shared.constants import FIELD_EVENTS, stream_named
from shared.events import batch_decoder, json_encoder
from shared.service import redis_client


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.processor dlq")
    parser.add_argument("action", choices=["list", "show", "replay", "purge"])
    parser.add_argument("stream", help="the stream, e.g. th:trades, th:trades:0 or th:{trades:0}")
    parser.add_argument("ids", nargs="*", help="DLQ entry ids (show: one; replay: some, default all)")
    return parser


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        args.stream = stream_named(settings.streams.prefix, args.stream, settings.streams.partitions)
    except ValueError as exc:  # a name that names no stream
        print(str(exc), file=sys.stderr)
        return 2
    redis = redis_client(settings)
    try:
        if args.action == "list":
            rows = await dlq.list_dead(redis, args.stream, count=1000)
            for row in rows:
                print(msgspec.json.encode(row).decode())
            print(f"{len(rows)} dead entries in {args.stream}:dlq", file=sys.stderr)
        elif args.action == "show":
            if len(args.ids) != 1:
                print("show takes exactly one DLQ entry id", file=sys.stderr)
                return 2
            fields = await dlq.get_dead(redis, args.stream, args.ids[0])
            if fields is None:
                print(f"no entry {args.ids[0]} in {args.stream}:dlq", file=sys.stderr)
                return 1
            print(f"error: {fields.get(b'error', b'').decode()}")
            try:
                for event in batch_decoder.decode(fields[FIELD_EVENTS]):
                    print(json_encoder.encode(event).decode())
            except (msgspec.DecodeError, msgspec.ValidationError):
                print(f"undecodable payload: {fields[FIELD_EVENTS][:200]!r}")
        elif args.action == "replay":
            moved = await dlq.replay(redis, args.stream, args.ids or None)
            print(f"replayed {moved} entries onto {args.stream}")
        else:
            print(f"purged {await dlq.purge(redis, args.stream)} entries from {args.stream}:dlq")
    finally:
        await redis.aclose()
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

