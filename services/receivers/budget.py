"""Weight budgets a venue's REST calls spend before they are sent.

A venue that counts weight over a rolling window (Hyperliquid: 1200 per minute per IP) gets a
`RollingWindow`: a request goes only when the weight sent in every window that would hold it stays
within the limit, so the budget is never the reason for a 429. Lanes split it: a lane is a window
of its own whose every charge is also a charge of its parent, so the trader tracker may spend
only its share while the pollers keep theirs, and everything together stays within the venue's.

Charges are reserved in arrival order (first come, first served: a heavy request is never starved
by light ones), one window at a time from the lane up: a request waits for its lane before it
queues in the parent, so a lane that is used up never holds back its siblings.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
# Our clock and the venue's disagree by a request's travel and our event loop's lag: a charge
# leaves a window this much later than the venue's own minute would let it.
WINDOW_MARGIN_S = 1.0
COOLDOWN_FIRST_S = 5.0  # after a 429 that names no Retry-After; doubling while 429s follow


def _nothing(weight: float) -> None:
    return None


class Ticket:
    """A request's place in a budget: how long it waited, and how it tells the budget what the
    answer really cost (answers that weigh by what they return are reserved at their most)."""

    def __init__(self, waited: float, weight: float, adjust: Callable[[float], None] = _nothing) -> None:
        self.waited = waited
        self.weight = weight
        self._adjust = adjust

    def settle(self, weight: float) -> None:
        """The venue answered: charge `weight` instead of what was reserved."""
        self.weight = weight
        self._adjust(weight)


class Budget(Protocol):
    """What a VenueClient spends weight from: a token bucket, a rolling window or a lane of one."""

    async def acquire(self, weight: float, sleep: Sleep) -> Ticket:
        """Reserve `weight` and sleep until it may be sent."""
        ...

    def reserve(self, weight: float) -> float:
        """Reserve `weight` without waiting; returns how long the caller would have to wait."""
        ...

    def block(self, seconds: float) -> None:
        """The venue answered 429: send nothing for at least `seconds`."""
        ...


@dataclass
class Charge:
    """Weight a window holds from `at` (its clock) until the window has moved past it."""

    at: float
    weight: float


class RollingWindow:
    """At most `limit` weight in any `window_s` seconds, as the venue counts it; a lane when it
    has a parent (lane()), the venue's whole budget (the root) when not."""

    def __init__(self, limit: float, window_s: float = 60.0, clock: Clock = time.monotonic,
                 parent: RollingWindow | None = None) -> None:
        self.limit = limit
        self.window_s = window_s
        self.parent = parent
        self._clock = clock
        self._charges: deque[Charge] = deque()  # in time order: each is placed after the last
        self._blocked_until = 0.0  # the root's cooldown after a 429
        self._cooldown_s = COOLDOWN_FIRST_S

    @property
    def root(self) -> RollingWindow:
        return self if self.parent is None else self.parent.root

    def lane(self, limit: float) -> RollingWindow:
        """A share of this window: at most `limit` (never more than this window's) in its own."""
        return RollingWindow(min(limit, self.limit), self.window_s, self._clock, parent=self)

    def used(self) -> float:
        """Weight sent in the last window_s (what the venue sees of us), reservations to come aside."""
        now = self._clock()
        return sum(c.weight for c in self._charges if now - self.window_s < c.at <= now)

    def reserve(self, weight: float) -> float:
        """Reserve `weight` in this window and its parents at once; returns how long the caller
        must wait (inspection and tests: acquire() queues in a parent only once its lane let it go)."""
        at = now = self._clock()
        window: RollingWindow | None = self
        while window is not None:
            at = window._place(Charge(at, weight), at)
            window = window.parent
        return at - now

    async def acquire(self, weight: float, sleep: Sleep) -> Ticket:
        """Reserve `weight` in this window, wait for it, then in the parent, up to the root."""
        charges: list[Charge] = []
        start = at = self._clock()
        window: RollingWindow | None = self
        while window is not None:
            charge = Charge(at, weight)
            at = window._place(charge, at)
            charges.append(charge)
            wait = at - self._clock()
            if wait > 0:
                await sleep(wait)
            window = window.parent
        root = self.root

        def adjust(actual: float) -> None:
            for charge in charges:
                charge.weight = actual
            root._cooldown_s = COOLDOWN_FIRST_S  # an answer: the venue is serving us again

        return Ticket(max(0.0, at - start), weight, adjust)

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

    def _place(self, charge: Charge, not_before: float) -> float:
        """Put `charge` at the earliest time from `not_before`, after every charge already placed,
        at which this window has room for it; returns that time."""
        span = self.window_s + WINDOW_MARGIN_S
        now = self._clock()
        while self._charges and self._charges[0].at <= now - span:
            self._charges.popleft()
        weight = min(charge.weight, self.limit)  # heavier than the window: it waits for an empty one
        at = max(not_before, now, self._blocked_until, self._charges[-1].at if self._charges else now)
        held = sum(c.weight for c in self._charges)
        for old in self._charges:  # oldest first: wait until enough has left the window
            if held + weight <= self.limit:
                break
            held -= old.weight
            at = max(at, old.at + span)  # unchanged for a charge already out of the window at `at`
        charge.at = at
        self._charges.append(charge)
        return at
