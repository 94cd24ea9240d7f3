"""`accounts add --exchange lighter --address`: an account index or an L1 address (its case kept for
the venue's checksummed form), no key asked and no master key needed; anything else refused."""
from __future__ import annotations

import asyncpg

from shared.config import Settings
from tests.general.test_accounts_cli import accounts_cli

ADDRESS = "0x478686468057D9873e8718083D40D2927b12F91A"


async def test_a_lighter_account_is_added_by_index_or_l1_address(pool: asyncpg.Pool,
                                                                 settings: Settings) -> None:
    code, out, err = await accounts_cli(settings, "add", "lt", "--exchange", "lighter", "--address", "00281",
                                        master="")
    assert (code, err) == (0, "") and out == "added account lt: lighter, read, address 281\n"
    code, out, _ = await accounts_cli(settings, "add", "lt-l1", "--exchange", "lighter", "--address", ADDRESS)
    assert code == 0 and ADDRESS in out
    rows = await pool.fetch("SELECT id, exchange, address, sealed FROM accounts ORDER BY id")
    assert [tuple(r) for r in rows] == [("lt", "lighter", "281", None), ("lt-l1", "lighter", ADDRESS, None)]
    code, _, err = await accounts_cli(settings, "add", "x", "--exchange", "lighter", "--address", "0x12")
    assert code == 2 and "an account index (digits) or an L1 address" in err
