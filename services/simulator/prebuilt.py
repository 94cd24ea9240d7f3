"""Pre-built trade frames, for benchmarks of the pipeline behind the simulator: the venue's own
frame building (a Decimal tape step, a dict, a JSON encode: ~13 µs a Binance frame) would otherwise
be the limit long before the receivers and the processor are.

POST /control?prebuilt=1 serves each trades subscription of a venue that supports it from
TEMPLATES frames the venue built once (on a scratch copy of its state, so the live tape, its
counters and its REST history are untouched), with only the trade id and the trade time stamped in:
ids go on from the live tape's, consecutive per symbol as the venue's own, times are the wall clock.
Frames served this way are not in the REST history (no sequence hole ever asks for them).
"""

from __future__ import annotations

import time

from services.simulator.venue import Session, Sub, Venue, VenueState

# venue -> (the JSON key of the trade id, the key of the trade time), in the order the frame writes them
ID_TIME_KEYS = {"binance": ('"a":', '"T":'), "binance_spot": ('"t":', '"T":')}
TEMPLATES = 1000  # frames built per symbol; prices, sizes and sides repeat in this cycle


class PrebuiltTrades:
    """One venue's trade frames from templates: head + id + middle + ms + tail."""

    def __init__(self, venue: Venue, state: VenueState) -> None:
        self.venue = venue
        self.state = state
        self.keys = ID_TIME_KEYS[state.name]
        self.templates: dict[str, list[tuple[str, str, str]]] = {}

    def __call__(self, sub: Sub) -> tuple[str, int]:
        templates = self.templates.get(sub.symbol) or self._build(sub)
        tape = self.state.tape(sub.symbol)
        tape.trade_id += 1
        head, middle, tail = templates[tape.trade_id % TEMPLATES]
        return f"{head}{tape.trade_id}{middle}{time.time_ns() // 1_000_000}{tail}", 1

    def _build(self, sub: Sub) -> list[tuple[str, str, str]]:
        scratch = VenueState(self.state.name, self.state.settings)
        session = Session(scratch, 0)
        id_key, time_key = self.keys
        templates = []
        for _ in range(TEMPLATES):
            text, _ = self.venue.frame(sub, session)
            tape = scratch.tape(sub.symbol)
            head, rest = text.split(f"{id_key}{tape.trade_id},", 1)
            middle, tail = rest.split(f"{time_key}{tape.time_ms},", 1)
            templates.append((head + id_key, f",{middle}{time_key}", "," + tail))
        self.templates[sub.symbol] = templates
        return templates
