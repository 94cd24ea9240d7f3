"""What every exchange parser test shares: exact field checks and frames broken on purpose."""
from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from services.receivers.frames import FrameError, ReconnectNotice
from shared.events import AnyEvent, json_decoder, json_encoder

RECV_TS = 1_700_000_000_123_456  # a receive time in microseconds, passed through untouched

# 1000 examples x 10 frames (broken_frames) = 10k mutated frames per test, a few seconds each
FUZZ = settings(
    max_examples=1_000, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def assert_event(event: AnyEvent, cls: type, **expected: Any) -> None:
    """Every field of event, by value, type and (for Decimals) exact digits: nothing left unchecked."""
    assert type(event) is cls, type(event)
    actual = msgspec.structs.asdict(event)
    assert set(actual) == set(expected), f"fields not asserted: {set(actual) ^ set(expected)}"
    for name, want in expected.items():
        got = actual[name]
        assert type(got) is type(want), (name, got, want)
        assert got == want, (name, got, want)
        if isinstance(want, Decimal):
            assert str(got) == str(want), (name, str(got), str(want))
    # and the event survives the stream encoding unchanged
    assert json_decoder.decode(json_encoder.encode(event)) == event


# Values that are wrong for some field: wrong types, non-numbers, absurd, zero or negative numbers.
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 2**64, -(2**70), 1e308, -0.0, 1.5, "", "NaN", "sNaN", "-Infinity",
    "1e999999", "-1e400", "0", "-0", "-1", "abc", "BTC", "@1", "A", "B", "x" * 300, "\u00e9",
    [], {}, [1, "a"], {"a": None}, ["0x1"], ["0x1", "0x2", "0x3"],
]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value can be replaced: keys of objects, items of arrays."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


def _odd_value(rnd: random.Random) -> Any:
    return rnd.choice(
        [rnd.choice(ODD_VALUES), rnd.randint(-(2**66), 2**66), rnd.uniform(-1e12, 1e12),
         "".join(chr(rnd.randint(1, 0x2FFF)) for _ in range(rnd.randint(0, 8)))]
    )


def mutate(base: bytes, how: str, rnd: random.Random) -> bytes | str:
    """One way of breaking a real frame, driven by rnd so that a failing case replays exactly."""
    if how == "truncate":
        return base[: rnd.randrange(len(base))]
    if how == "flip":
        frame = bytearray(base)
        for _ in range(rnd.randint(1, 4)):
            frame[rnd.randrange(len(frame))] = rnd.randrange(256)
        return bytes(frame)
    if how == "splice":
        start = rnd.randint(0, len(base))
        end = min(len(base), start + rnd.randint(0, 20))
        return base[:start] + rnd.randbytes(rnd.randint(0, 8)) + base[end:]
    if how in ("retype", "drop"):
        doc = json.loads(base)
        paths = _paths(doc)
        if not paths:
            return base
        *parents, last = rnd.choice(paths)
        node = doc
        for step in parents:
            node = node[step]
        if how == "drop":
            del node[last]
        else:
            node[last] = _odd_value(rnd)
        return json.dumps(doc, separators=(",", ":")).encode()
    if how == "text":
        return "".join(chr(rnd.randint(0, 0x10FFFF)) for _ in range(rnd.randint(0, 40)))
    return rnd.randbytes(rnd.randint(0, 300))


MUTATIONS = ("truncate", "flip", "splice", "retype", "retype", "drop", "text", "noise")


def broken_frames(fixtures: Sequence[bytes], per_example: int = 10) -> st.SearchStrategy[list[bytes | str]]:
    """Batches of real frames truncated, with bytes flipped, cut or inserted, a field retyped or
    dropped, or noise. A batch per example: Hypothesis spends ~2 ms on each example it runs, the
    mutations themselves microseconds, so FUZZ examples x per_example frames stay under 10 s."""

    def batch(seed: int) -> list[bytes | str]:
        rnd = random.Random(seed)
        return [mutate(rnd.choice(fixtures), rnd.choice(MUTATIONS), rnd) for _ in range(per_example)]

    return st.integers(0, 2**64 - 1).map(batch)


def only_frame_errors(
    parse_frame: Callable[[bytes | str, int], list[AnyEvent]], frames: list[bytes | str]
) -> None:
    """parse_frame may return events, raise FrameError or ask for a reconnect (a venue's notice);
    anything else is a bug, shown with its frame."""
    for raw in frames:
        try:
            events = parse_frame(raw, RECV_TS)
        except (FrameError, ReconnectNotice):
            continue
        except Exception as exc:
            raise AssertionError(f"{raw!r} raised {exc!r}") from exc
        assert isinstance(events, list), raw
        for event in events:
            assert event.recv_ts == RECV_TS, raw
            json_encoder.encode(event)
