"""A watched trader's position change as an Alert for th:alerts, which the general service sends
to Telegram once per key, severity and title. Pure: no I/O."""
from __future__ import annotations

from decimal import Decimal

from shared.events import Alert, PositionChange

SOURCE = "traders"


def side_of(size: Decimal) -> str:
    return "long" if size > 0 else "short"


def headline(change: PositionChange) -> str:
    """What happened, in a few words: "flipped BTC-USD-PERP long to short"."""
    symbol = change.symbol
    if change.change == "flip":
        return f"flipped {symbol} {side_of(change.old_size)} to {side_of(change.new_size)}"
    if change.change == "close":
        verb = "was liquidated on" if change.liquidated else "closed"
        return f"{verb} {side_of(change.old_size)} {symbol}"
    if change.change == "open":
        return f"opened {side_of(change.new_size)} {symbol}"
    return f"{change.change}d {side_of(change.new_size)} {symbol}"  # increased / decreased


def change_alert(change: PositionChange, min_usd: Decimal) -> Alert | None:
    """The alert of a watched trader's change worth at least `min_usd` (position value: after the
    change, before it on a close); None under it. The key is one per address, symbol and snapshot,
    so a republished change is deduplicated, while its liquidation mark (a new title) is news."""
    value = abs(change.position_value or Decimal(0))
    if value < min_usd:
        return None
    address = change.account
    details = [f"{address}", f"size {change.old_size} -> {change.new_size}", f"value ${value}"]
    if change.price is not None:
        details.append(f"entry {change.price}")
    if change.unrealized_pnl is not None:
        details.append(f"uPnL {change.unrealized_pnl}")
    if change.leverage is not None:
        details.append(f"leverage {change.leverage}x")
    if change.liquidation_price is not None:
        details.append(f"liq. price {change.liquidation_price}")
    return Alert(
        source=SOURCE, severity="warning" if change.liquidated else "info",
        key=f"trader:{address}:{change.symbol}:{change.ts}",
        title=f"{address[:6]}…{address[-4:]} {headline(change)}", text="\n".join(details),
        ts=change.ts, recv_ts=change.recv_ts)
