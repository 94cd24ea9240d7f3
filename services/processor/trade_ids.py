"""The trade ids a 1m bar has counted, kept compactly: the bar skips an id it holds, so a
redelivered or backfilled trade is never counted twice, for as long as the bar is in memory.

A set of id strings cost ~160 bytes a trade (the string and its slot), 3 MB for a busy minute.
Ids that are plain decimal numbers (Binance's aggregate and spot trade ids, Deribit's, OKX's,
Hyperliquid's `tid`) are kept as runs of consecutive numbers in two int64 arrays: where a venue's
ids count up by one per symbol, a whole minute is one run (a few dozen bytes); sparse numbers cost
16 bytes each. A UUID in its canonical lower-case text (Bybit's `execId`) is kept as its 128-bit
number (a third less than its text). Any other id (a leading zero, past int64) is kept as itself.
"""
from __future__ import annotations

import re
from array import array
from bisect import bisect_right

INT64_DIGITS = 18  # every number of at most 18 digits fits in an int64
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def decimal_id(trade_id: str) -> int | None:
    """The id as a number when the number gives the very same text back, else None."""
    if (trade_id.isascii() and trade_id.isdigit() and len(trade_id) <= INT64_DIGITS
            and (trade_id[0] != "0" or len(trade_id) == 1)):
        return int(trade_id)
    return None


def other_key(trade_id: str) -> str | int:
    """A canonical UUID as its number (the text is the only one that gives it), any other id as itself."""
    if len(trade_id) == 36 and CANONICAL_UUID.fullmatch(trade_id):
        return int(trade_id.replace("-", ""), 16)
    return trade_id


class TradeIds:
    """A set of trade ids that only grows: `add` answers whether an id is new."""

    __slots__ = ("_starts", "_ends", "_others", "count")

    def __init__(self) -> None:
        self._starts = array("q")  # run k holds the numbers _starts[k] .. _ends[k], runs sorted, apart
        self._ends = array("q")
        self._others: set[str | int] = set()  # other_key of every other id
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def __contains__(self, trade_id: str) -> bool:
        number = decimal_id(trade_id)
        if number is None:
            return other_key(trade_id) in self._others
        run = bisect_right(self._starts, number) - 1
        return run >= 0 and number <= self._ends[run]

    def add(self, trade_id: str) -> bool:
        """Hold this id; False when it was held already."""
        number = decimal_id(trade_id)
        if number is None:
            key = other_key(trade_id)
            if key in self._others:
                return False
            self._others.add(key)
        elif not self._add_number(number):
            return False
        self.count += 1
        return True

    def _add_number(self, number: int) -> bool:
        starts, ends = self._starts, self._ends
        if ends and number == ends[-1] + 1:  # the common case: the next id of the newest run
            ends[-1] = number
            return True
        run = bisect_right(starts, number)  # runs 0 .. run-1 start at or before the number
        if run and number <= ends[run - 1]:
            return False
        joins_left = run > 0 and ends[run - 1] == number - 1
        joins_right = run < len(starts) and starts[run] == number + 1
        if joins_left and joins_right:  # it closes the hole between two runs
            ends[run - 1] = ends[run]
            del starts[run], ends[run]
        elif joins_left:
            ends[run - 1] = number
        elif joins_right:
            starts[run] = number
        else:
            starts.insert(run, number)
            ends.insert(run, number)
        return True
