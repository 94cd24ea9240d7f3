"""A Hyperliquid trader's address: 0x and 40 hex digits, stored in lower case (migration 070)."""
from __future__ import annotations

import re

ADDRESS_FORM = "0x followed by 40 hex digits, e.g. 0x9b54264d7502f80163ea949038aad771eae67e38"
_ADDRESS = re.compile(r"0x[0-9a-f]{40}")


class BadAddress(ValueError):
    """Not an address; the message names the expected form."""


def address_or_none(text: str) -> str | None:
    """The address in lower case (checksummed mixed case is the same address), or None."""
    lowered = text.lower()
    return lowered if _ADDRESS.fullmatch(lowered) else None


def address_of(text: str) -> str:
    """The address in lower case; BadAddress naming the expected form otherwise."""
    found = address_or_none(text.strip())
    if found is None:
        raise BadAddress(f"{text!r} is not a trader address: expected {ADDRESS_FORM}")
    return found
