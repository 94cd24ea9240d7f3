"""One simulated Hyperliquid trader: positions per coin, the arithmetic of a fill (open, increase,
decrease, close, flip, liquidation), its fills as userFills sends them and its equity points.

Rules followed (Hyperliquid docs, trading/ pages):
- entry-price-and-pnl: an increase averages the entry price; a decrease keeps it; closedPnl is the
  closed size times (fill price - entry), sign of the position; a flip is ONE fill ("Long > Short").
- liquidations: maintenance margin is half the initial margin at max leverage, l = 1 / (2 * 50);
  liquidation price of an isolated position = entry * (1 - 1/leverage) / (1 - l) for a long,
  entry * (1 + 1/leverage) / (1 + l) for a short (a cross position is priced the same way here).
- fees: the base tier of info `userFees` feeSchedule (info-endpoint page): "cross" 0.00045 for the
  taker, "add" 0.00015 for the maker, on every fill's notional.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

import msgspec

MAX_LEVERAGE = 50  # meta's maxLeverage of every simulated coin
MAINTENANCE = Decimal(1) / (2 * MAX_LEVERAGE)
TAKER_FEE = Decimal("0.00045")
MAKER_FEE = Decimal("0.00015")
LOT = Decimal("0.0001")  # meta's szDecimals 4
USD = Decimal("0.000001")  # account figures carry six decimals, as in the documented answers
FILLS_KEPT = 11_000  # trimmed back to the 10000 the venue serves, a thousand at a time
EQUITY_KEPT = 2_000  # past this every other point goes (the curve keeps its span)
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def wire(value: Decimal) -> str:
    """A decimal string as the venue writes it: no exponent, at least one decimal ("0.0", "65000.0")."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def trade_hash(tid: int) -> str:
    """The 32-byte transaction hash a trade and its two fills share, derived from the trade id."""
    return "0x" + hashlib.blake2b(tid.to_bytes(8, "big"), digest_size=32).hexdigest()


def sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


@dataclass(slots=True)
class Position:
    size: Decimal  # signed: > 0 long, < 0 short
    entry: Decimal
    leverage: int

    @property
    def margin(self) -> Decimal:
        """The margin put up at entry (isolated margin, or this position's share of cross)."""
        return abs(self.size) * self.entry / self.leverage

    @property
    def liquidation_price(self) -> Decimal:
        one = Decimal(1)
        if self.size > 0:
            price = self.entry * (one - one / self.leverage) / (one - MAINTENANCE)
        else:
            price = self.entry * (one + one / self.leverage) / (one + MAINTENANCE)
        return price.quantize(USD)

    def unrealized(self, mark: Decimal) -> Decimal:
        return self.size * (mark - self.entry)

    def liquidated_at(self, mark: Decimal) -> bool:
        liq = self.liquidation_price
        return mark <= liq if self.size > 0 else mark >= liq


@dataclass(frozen=True, slots=True)
class Liquidation:
    """The `liquidation` block the venue puts on both fills of a liquidation."""

    user: str  # liquidatedUser
    mark: Decimal  # markPx at the liquidation
    method: str = "market"  # "market" or "backstop"


@dataclass(slots=True)
class Trader:
    address: str
    maker: bool  # a market maker: the other side of the takers' fills; its own actions only mark its ledger
    isolated: bool  # its positions are isolated (else cross)
    leverage: int
    coins: tuple[str, ...]  # the coins it trades
    pace_s: float  # mean seconds between its own actions
    born_ms: int
    deposits: Decimal
    balance: Decimal  # deposits + realized PnL - fees
    positions: dict[str, Position] = field(default_factory=dict)
    volume: Decimal = Decimal(0)
    fill_count: int = 0  # every fill ever, also the ones no longer served
    liquidations: int = 0
    fill_times: list[int] = field(default_factory=list)  # ms, ascending, beside fill_bytes
    fill_bytes: list[bytes] = field(default_factory=list)  # each fill as the wire's JSON object
    equity: list[tuple[int, Decimal, Decimal, Decimal]] = field(default_factory=list)  # ms, value, pnl, vlm
    action_ms: int = 0  # its next own action
    next_ms: int = 0  # its next event: an action or a liquidation check

    def account_value(self, marks: dict[str, Decimal]) -> Decimal:
        return self.balance + sum((p.unrealized(marks[c]) for c, p in self.positions.items()), Decimal(0))

    def free_margin(self, marks: dict[str, Decimal]) -> Decimal:
        return self.account_value(marks) - sum((p.margin for p in self.positions.values()), Decimal(0))

    def record_equity(self, ms: int, marks: dict[str, Decimal]) -> None:
        value = self.account_value(marks)
        self.equity.append((ms, value, value - self.deposits, self.volume))
        if len(self.equity) > EQUITY_KEPT:
            del self.equity[1::2]

    def top_up(self, floor: Decimal) -> None:
        """A trader whose cash ran out (below zero, or below `floor` with nothing open) deposits its
        first stake again: a deposit, not PnL."""
        if self.balance < 0 or (not self.positions and self.balance < floor):
            stake = self.equity[0][1]
            self.deposits += stake - self.balance
            self.balance = stake

    def fill(self, coin: str, delta: Decimal, px: Decimal, ms: int, tid: int, oid: int, crossed: bool,
             liquidation: Liquidation | None = None) -> dict[str, Any]:
        """Apply a fill of `delta` (signed, base units) at `px`; store and return it as the wire has it."""
        old = self.positions.get(coin)
        start = old.size if old is not None else Decimal(0)
        new = start + delta
        closing = min(abs(delta), abs(start)) if start and sign(delta) != sign(start) else Decimal(0)
        closed_pnl = Decimal(0)
        if old is not None and closing:
            closed_pnl = (closing * (px - old.entry) * sign(start)).quantize(USD)
        fee = (abs(delta) * px * (TAKER_FEE if crossed else MAKER_FEE)).quantize(USD)
        self.balance += closed_pnl - fee
        self.volume += abs(delta) * px
        if new == 0:
            self.positions.pop(coin, None)
        elif old is None or sign(new) != sign(start):
            self.positions[coin] = Position(new, px, self.leverage)
        elif abs(new) > abs(start):
            entry = ((abs(start) * old.entry + abs(delta) * px) / abs(new)).quantize(USD)
            self.positions[coin] = Position(new, entry, old.leverage)
        else:
            old.size = new
        body = {
            "closedPnl": wire(closed_pnl), "coin": coin, "crossed": crossed,
            "dir": self._direction(start, new, liquidation), "hash": trade_hash(tid),
            "oid": oid, "px": wire(px), "side": "B" if delta > 0 else "A", "startPosition": wire(start),
            "sz": wire(abs(delta)), "time": ms, "fee": wire(fee), "feeToken": "USDC", "tid": tid,
        }
        if liquidation is not None:  # on both sides of a liquidation (userFills `liquidation`)
            body["liquidation"] = {"liquidatedUser": liquidation.user, "markPx": wire(liquidation.mark),
                                   "method": liquidation.method}
        self._keep(ms, body)
        return body

    def _direction(self, start: Decimal, new: Decimal, liquidation: Liquidation | None) -> str:
        if liquidation is not None and liquidation.user == self.address:
            return f"Liquidated {'Isolated' if self.isolated else 'Cross'} {'Long' if start > 0 else 'Short'}"
        if start == 0 or (sign(new) == sign(start) and abs(new) > abs(start)):
            return "Open Long" if new > 0 else "Open Short"
        if new != 0 and sign(new) != sign(start):
            return "Long > Short" if start > 0 else "Short > Long"
        return "Close Long" if start > 0 else "Close Short"

    def _keep(self, ms: int, body: dict[str, Any]) -> None:
        self.fill_count += 1
        self.fill_times.append(ms)
        self.fill_bytes.append(_encoder.encode(body))
        if len(self.fill_times) > FILLS_KEPT:
            cut = len(self.fill_times) - (FILLS_KEPT - 1_000)
            del self.fill_times[:cut], self.fill_bytes[:cut]

    def fills(self) -> list[dict[str, Any]]:
        """Every fill still kept, oldest first, decoded (for tests and checks; answers use the bytes)."""
        return [_decoder.decode(raw) for raw in self.fill_bytes]


def lots(notional: Decimal, px: Decimal) -> Decimal:
    """The size in whole lots worth at most `notional` at `px`."""
    return (notional / px).quantize(LOT, rounding=ROUND_DOWN)
