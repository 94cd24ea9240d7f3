"""The simulated market's prices: one path per base asset (BTC, ETH, SOL, ...) that every venue and
market trades around, so multi-venue candles, spreads and hedges look like a real market.

The path is a pure function of (seed, asset, exchange time): the log of the price is a sum of
value-noise octaves (a bounded random value at every knot of a grid, lines between knots) from
8 seconds to 36 hours, their sizes growing as the square root of their length as a random walk's
do, scaled to the asset's per-minute volatility. Every venue, the Hyperliquid trader population
and two runs of one seed therefore see the same price at the same millisecond without sharing any
state, and the price stays within known bounds of its start (never near zero): `low`, `high` and
`speed` say how far and how fast it can go (the population schedules its liquidation checks on them).

Each market (venue, symbol) quotes around the path with its own basis: a fixed offset and a slow
wave of a few basis points, so spot and perp of a venue, and two venues, stay a few basis points
apart; its spread is a few ticks, at most MAX_SPREAD_BP. Prices are in TICKs (0.1), as the
venues' wire formats print them."""

from __future__ import annotations

import math
import re
import zlib
from decimal import Decimal

TICK = Decimal("0.1")
STEP_MS = 100  # a market's quote holds this long: the path is read 10 times a second per market
# where each path starts (the REST answers read their prices off the same paths: rest_answers.py)
START_PRICES = {"BTC": Decimal(65000), "ETH": Decimal(3200), "SOL": Decimal(150)}
DEFAULT_START = Decimal(100)  # any other asset
# standard deviation of the log price over one minute (BTC ~50 % a year is 0.07 %/min, busy hours more)
VOLATILITY = {"BTC": 0.0010, "ETH": 0.0013, "SOL": 0.0018}
DEFAULT_VOLATILITY = 0.0015
OCTAVES_MS = tuple(8_000 * 4**i for i in range(8))  # 8 s, 32 s, ... 36.4 h
# the octave of length L has amplitude vol * SCALE * sqrt(L / 1 min): SCALE makes the realised
# per-minute standard deviation equal vol (measured over a simulated week, tests/simulator/test_market.py)
SCALE = 1.25
# bursts: about a fifth of the time (where a 20-minute envelope is above BURST_THRESHOLD) the price
# also swings up to BURST_SIZE * vol over 4 minutes, as in a real market's liquidation cascades
BURST_MS = 240_000
BURST_ENVELOPE_MS = 1_200_000
BURST_THRESHOLD = 0.5
BURST_SIZE = 20.0
STATIC_BASIS_BP = 4.0  # a market's fixed offset from the path: up to this many basis points either way
WAVE_BASIS_BP = 3.0  # plus a slow wave (one octave of BASIS_WAVE_MS) up to this many
BASIS_WAVE_MS = 600_000
MAX_BASIS = (STATIC_BASIS_BP + WAVE_BASIS_BP) / 10_000  # |market mid / path - 1| never exceeds this
SPREAD_TICKS = {"binance": 1, "binance_spot": 1, "bybit": 1, "bybit_spot": 2, "okx": 1, "deribit": 5,
                "hyperliquid": 10}  # deribit's BTC tick is 0.5, hyperliquid's 5 significant figures
DEFAULT_SPREAD_TICKS = 2
MAX_SPREAD_BP = 2.0  # a cheap asset's spread is narrower in ticks (one tick at least)
LIQUIDATION_BP = 3.0  # a liquidation order fills up to this far beyond the touch
QUOTE_CURRENCIES = ("USDT", "USDC", "FDUSD", "BUSD", "USD")
_MASK = (1 << 64) - 1
_SEPARATORS = re.compile(r"[-_/]")


def base_asset(symbol: str) -> str:
    """BTCUSDT, BTC-USDT-SWAP, BTC-USDT, BTC_USDC-PERPETUAL, BTC-PERPETUAL and BTC are all BTC."""
    head = _SEPARATORS.split(symbol, maxsplit=1)[0].upper()
    if head == symbol.upper():
        for quote in QUOTE_CURRENCIES:
            if head.endswith(quote) and len(head) > len(quote):
                return head[: -len(quote)]
    return head


def _unit(key: int) -> float:
    """A number in [-1, 1) drawn from a 64-bit key: splitmix64's finaliser, cheap and well mixed."""
    z = (key * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return (z ^ (z >> 31)) / 2**63 - 1.0


def _salt(*parts: object) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode()) << 32


class Octave:
    """Value noise of one length: a random value in [-amplitude, amplitude] at every knot (multiple
    of length_ms), straight lines between; the last two knots are kept, time mostly goes forward."""

    def __init__(self, length_ms: int, amplitude: float, salt: int) -> None:
        self.length_ms = length_ms
        self.amplitude = amplitude
        self.salt = salt
        self.knot = -1
        self.left = self.slope = 0.0  # the value at the knot, and its change per ms up to the next

    def at(self, ms: int) -> float:
        knot, into = divmod(ms, self.length_ms)
        if knot != self.knot:
            self.move(knot)
        return self.left + self.slope * into

    def move(self, knot: int) -> None:
        self.knot = knot
        self.left = self.amplitude * _unit(self.salt ^ knot)
        self.slope = (self.amplitude * _unit(self.salt ^ (knot + 1)) - self.left) / self.length_ms


class PricePath:
    """One base asset's price over exchange time, the same for every venue and every reader."""

    def __init__(self, seed: int, asset: str) -> None:
        self.asset = base_asset(asset)
        self.start = float(START_PRICES.get(self.asset, DEFAULT_START))
        vol = VOLATILITY.get(self.asset, DEFAULT_VOLATILITY)
        self.octaves = [
            Octave(length, vol * SCALE * math.sqrt(length / 60_000), _salt(seed, self.asset, length))
            for length in OCTAVES_MS
        ]
        self.envelope = Octave(BURST_ENVELOPE_MS, 1.0, _salt(seed, self.asset, "envelope"))
        self.burst = Octave(BURST_MS, vol * BURST_SIZE, _salt(seed, self.asset, "burst"))
        swing = sum(o.amplitude for o in self.octaves) + self.burst.amplitude  # the farthest log price strays
        self.low, self.high = math.exp(-swing), math.exp(swing)  # bounds of factor()
        # the fastest factor() can move, per minute: e^x times the steepest slope of every part
        steepest = sum(2 * o.amplitude * 60_000 / o.length_ms for o in (*self.octaves, self.burst))
        steepest += self.burst.amplitude * 2 / (1 - BURST_THRESHOLD) * 60_000 / BURST_ENVELOPE_MS
        self.speed = self.high * steepest

    def factor(self, ms: int) -> float:
        """The price at `ms` as a multiple of the start price."""
        log = 0.0
        for octave in self.octaves:  # Octave.at, inlined: the population reads marks at every event
            knot, into = divmod(ms, octave.length_ms)
            if knot != octave.knot:
                octave.move(knot)
            log += octave.left + octave.slope * into
        strength = self.envelope.at(ms) - BURST_THRESHOLD
        if strength > 0:
            log += strength / (1 - BURST_THRESHOLD) * self.burst.at(ms)
        return math.exp(log)

    def price(self, ms: int) -> float:
        return self.start * self.factor(ms)


class Quote:
    """One market's top of book around its asset's path: bid and ask (and one tick beyond each,
    where larger takers fill), its mid and the path's own price (the index), held for STEP_MS."""

    def __init__(self, path: PricePath, venue: str, symbol: str, seed: int) -> None:
        self.path = path
        salt = _salt(seed, venue, symbol, "basis")
        self.static_basis = STATIC_BASIS_BP / 10_000 * _unit(salt)
        self.wave = Octave(BASIS_WAVE_MS, WAVE_BASIS_BP / 10_000, salt)
        self.spread_ticks = SPREAD_TICKS.get(venue, DEFAULT_SPREAD_TICKS)
        self.step = -1
        self.bid = self.ask = self.deep_bid = self.deep_ask = self.mid = self.index = TICK
        self.liquidation_ticks = 1

    def basis(self, ms: int) -> float:
        """This market's mid over the path, minus one: within +-MAX_BASIS."""
        return self.static_basis + self.wave.at(ms)

    def update(self, ms: int) -> None:
        """Quote again when a new step has begun (cheap otherwise: the hot path calls it per trade)."""
        step = ms // STEP_MS
        if step == self.step:
            return
        self.step = step
        at = step * STEP_MS
        index = self.path.price(at)
        mid = index * (1 + self.basis(at)) / 0.1  # in ticks
        spread = max(1, min(self.spread_ticks, int(mid * MAX_SPREAD_BP / 10_000)))
        bid = max(2, round(mid - spread / 2))
        self.bid, self.ask = Decimal(bid) * TICK, Decimal(bid + spread) * TICK
        self.deep_bid, self.deep_ask = self.bid - TICK, self.ask + TICK
        self.mid = Decimal(round(mid)) * TICK
        self.index = Decimal(max(1, round(index / 0.1))) * TICK
        self.liquidation_ticks = max(1, int(mid * LIQUIDATION_BP / 10_000))

    def fill_price(self, draw: float) -> Decimal:
        """A taker's price from one uniform draw in [0, 1): >= 0.5 buys at the ask, else sells at the
        bid; the outer 5 % each side sweep one tick further. The draw says the side too (Tape)."""
        if draw >= 0.5:
            return self.deep_ask if draw >= 0.95 else self.ask
        return self.deep_bid if draw < 0.05 else self.bid
