"""normalize --exchange NAME: raw frames as JSON lines on stdin -> events as JSON lines on stdout,
through the same parse functions as the live path."""
from __future__ import annotations

import argparse
import sys
from typing import TextIO

from services.receivers.exchanges import FEEDS, parse_of
from services.receivers.frames import FrameError, ReconnectNotice
from shared.events import json_encoder, now_us


def normalize(exchange: str, lines: TextIO, out: TextIO, err: TextIO) -> tuple[int, int]:
    """Returns (events printed, bad lines); a bad line is reported and the rest go on."""
    parse = parse_of(exchange)
    printed = bad = 0
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        try:
            events = parse(line.encode(), now_us())
        except FrameError as exc:
            bad += 1
            print(f"line {number}: {exc}", file=err)
            continue
        except ReconnectNotice as notice:  # no events; a live feed would reconnect here
            print(f"line {number}: notice of a coming disconnect: {notice}", file=err)
            continue
        for event in events:
            out.write(json_encoder.encode(event).decode() + "\n")
            printed += 1
    out.flush()
    return printed, bad


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.receivers normalize")
    parser.add_argument("--exchange", required=True, choices=sorted(FEEDS))
    args = parser.parse_args(argv)
    _, bad = normalize(args.exchange, sys.stdin, sys.stdout, sys.stderr)
    return 1 if bad else 0
