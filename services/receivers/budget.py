"""Weight budgets a venue's REST calls spend before they are sent.

A venue that counts weight over a rolling window (Hyperliquid: 1200 per minute per IP) gets a
`RollingWindow`: a request goes only when the weight sent in every window that would hold it stays
within the limit, so the budget is never the reason for a 429. Lanes split it: a lane is a window
of its own whose every charge is also a charge of its parent, so the trader tracker may spend
only its share while the pollers keep theirs, and everything together stays within the venue's.

Requests take their turn in arrival order (first come, first served: a heavy request is never
starved by light ones) and are charged when they may go, one window at a time from the lane up: a
request waits for its lane before it queues in the parent, so a lane that is used up never holds
back its siblings. An answer that weighs less than was reserved frees the rest at once.

The venue counts a request when it arrives, which is somewhere between our sending it and its
answer coming back. So a charge is moved to the moment its answer (or its failure) came back: the
venue's minute then never holds more than ours, however long requests travel or the event loop lags.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
# A charge leaves a window this much later than the venue's own minute would let it: the venue's
# clock and ours may round a minute's edge differently (travel time is covered by re-dating a
# charge to its answer, see the module's docstring).
WINDOW_MARGIN_S = 1.0
COOLDOWN_FIRST_S = 5.0  # after a 429 that names no Retry-After; doubling while 429s follow


def _nothing(weight: float, answered: bool) -> None:
    return None


class Ticket:
    """A request's place in a budget: how long it waited, and how it tells the budget what the
    answer really cost (answers that weigh by what they return are reserved at their most)."""

    def __init__(self, waited: float, weight: float,
                 adjust: Callable[[float, bool], None] = _nothing) -> None:
        self.waited = waited
        self.weight = weight
        self._adjust = adjust

    def settle(self, weight: float) -> None:
        """The venue answered: charge `weight` instead of what was reserved, from now, since the
        venue may have counted the request as late as this."""
        self.weight = weight
        self._adjust(weight, True)

    def failed(self) -> None:
        """The attempt failed (an error status, or no answer): it may still have reached the venue,
        so what was reserved stays charged, from now."""
        self._adjust(self.weight, False)


class Budget(Protocol):
    """What a VenueClient spends weight from: a token bucket, a rolling window or a lane of one."""

    async def acquire(self, weight: float, sleep: Sleep, most: float = 0.0) -> Ticket:
        """Reserve `weight` plus the `most` its answer may add, and sleep until it may be sent."""
        ...

    def reserve(self, weight: float) -> float:
        """Reserve `weight` without waiting; returns how long the caller would have to wait."""
        ...

    def block(self, seconds: float) -> None:
        """The venue answered 429: send nothing for at least `seconds`."""
        ...


@dataclass(eq=False)  # a charge is itself, not its figures: it is found in its window by identity
class Charge:
    """Weight a window holds from `at` (its clock) until the window has moved past it."""

    at: float
    weight: float


class RollingWindow:
    """At most `limit` weight in any `window_s` seconds, as the venue counts it; a lane when it
    has a parent (lane()), the venue's whole budget (the root) when not."""

    def __init__(self, limit: float, window_s: float = 60.0, clock: Clock = time.monotonic,
                 parent: RollingWindow | None = None, soft: bool = False,
                 margin_s: float = WINDOW_MARGIN_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self.margin_s = margin_s  # a charge stays this much longer than the window (WINDOW_MARGIN_S)
        self.parent = parent
        # a soft lane caps a user's part of its parent by what answers weighed: it admits a request
        # by its own weight and leaves the room an answer may add to its strict parents
        self.soft = soft
        self._clock = clock
        self._charges: deque[Charge] = deque()  # in time order
        self._turn = asyncio.Lock()  # first come, first served: its waiters are woken in order
        self._freed = asyncio.Event()  # an answer weighed less than reserved, or a 429 came
        self._blocked_until = 0.0  # the root's cooldown after a 429
        self._cooldown_s = COOLDOWN_FIRST_S

    @property
    def root(self) -> RollingWindow:
        return self if self.parent is None else self.parent.root

    def lane(self, limit: float, soft: bool = False) -> RollingWindow:
        """A share of this window: at most `limit` (never more than this window's) in its own."""
        return RollingWindow(min(limit, self.limit), self.window_s, self._clock, parent=self, soft=soft,
                             margin_s=self.margin_s)

    def used(self) -> float:
        """Weight sent in the last window_s: what the venue counts of us now."""
        now = self._clock()
        return sum(c.weight for c in self._charges if now - self.window_s < c.at <= now)

    def reserve(self, weight: float) -> float:
        """Charge `weight` in this window and its parents at the earliest time they all have room;
        returns how long from now that is (inspection and tests: requests acquire())."""
        at = now = self._clock()
        window: RollingWindow | None = self
        while window is not None:
            at = max(at, window._earliest(weight))
            window._charges.append(Charge(at, weight))
            window = window.parent
        return at - now

    async def acquire(self, weight: float, sleep: Sleep, most: float = 0.0) -> Ticket:
        """Wait for room in this window, then in the parent, up to the root; the request may go
        when it returns, charged in each with its weight and the `most` its answer may add (a soft
        lane: its weight only), until the answer settles what it cost."""
        start = self._clock()
        windows: list[RollingWindow] = []
        charges: list[Charge] = []
        window: RollingWindow | None = self
        while window is not None:
            charges.append(await window._admit(weight if window.soft else weight + most, sleep))
            windows.append(window)
            window = window.parent
        root = windows[-1]

        def adjust(actual: float, answered: bool) -> None:
            for charge, held in zip(charges, windows, strict=True):
                charge.weight = actual
                held._redate(charge)
                held._freed.set()  # what was reserved beyond the answer's weight is free again
            if answered:
                root._cooldown_s = COOLDOWN_FIRST_S  # the venue is serving us again

        return Ticket(self._clock() - start, weight + most, adjust)

    def block(self, seconds: float) -> None:
        """A 429 concerns the venue's whole budget: the root sends nothing for the longer of
        `seconds` (the venue's Retry-After) and a cooldown that doubles while 429s follow."""
        root = self.root
        if root is not self:
            root.block(seconds)
            return
        wait = max(seconds, self._cooldown_s)
        self._cooldown_s = min(self._cooldown_s * 2, self.window_s)
        self._blocked_until = max(self._blocked_until, self._clock() + wait)
        self._freed.set()  # whoever waits for room learns of the cooldown

    async def _admit(self, weight: float, sleep: Sleep) -> Charge:
        """This window's turn, then room for `weight`; charged from the moment it may be sent."""
        async with self._turn:
            while True:
                self._freed.clear()
                wait = self._earliest(weight) - self._clock()
                if wait <= 0:
                    break
                await _first(sleep(wait), self._freed.wait())
            charge = Charge(self._clock(), weight)
            self._charges.append(charge)
            return charge

    def _redate(self, charge: Charge) -> None:
        """Move a charge to now, keeping the window in time order; one already out of the window
        comes back in."""
        try:
            self._charges.remove(charge)
        except ValueError:
            pass
        charge.at = max(charge.at, self._clock())
        place = len(self._charges)
        while place and self._charges[place - 1].at > charge.at:  # only reserve() charges ahead of now
            place -= 1
        self._charges.insert(place, charge)

    def _earliest(self, weight: float) -> float:
        """The earliest time from now, after every charge already made, at which this window has
        room for `weight`."""
        span = self.window_s + self.margin_s
        now = self._clock()
        while self._charges and self._charges[0].at <= now - span:
            self._charges.popleft()
        weight = min(weight, self.limit)  # heavier than the window: it waits for an empty one
        at = max(now, self._blocked_until, self._charges[-1].at if self._charges else now)
        held = sum(c.weight for c in self._charges)
        for old in self._charges:  # oldest first: wait until enough has left the window
            if held + weight <= self.limit:
                break
            held -= old.weight
            at = max(at, old.at + span)  # unchanged for a charge already out of the window at `at`
        return at


async def _first(*waits: Awaitable[object]) -> None:
    """Return when the first of `waits` is done; the others are cancelled and awaited."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
