"""`python -m services.general accounts ...` against the real PostgreSQL: keys go in through stdin
and come out masked, never whole, in no output and no column but `sealed`; bad requests are one
line and exit status 2; rotation re-seals every row or none; remove deletes."""
from __future__ import annotations

import asyncio
import io
import os
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

import shared.account_store as account_store
from services.general.accounts_cli import PLANNED_SIDES, Refused, private_sides, read_credentials
from services.general.cli import parser
from services.receivers.exchanges import REGISTRY
from shared.account_store import add_account, load_accounts, rotate_master_key, sealed_accounts
from shared.accounts import Account, AccountAlerts, Credentials, mask
from shared.config import Settings
from shared.vault import VaultError, new_master_key, parse_master_key, seal
from tests.conftest import DATABASE_URL

ROOT = Path(__file__).resolve().parents[2]
MASTER = new_master_key()
BINANCE = Credentials(key="bnKEY0123456789abcdefXYZ", secret="bnSECRET-never-shown-0001")
OKX = Credentials(key="okxKEY-9876543210-zyxw", secret="okxSECRET-never-shown-02",
                  passphrase="okxPASS-phrase-03")
SECRETS = [BINANCE.key, BINANCE.secret, OKX.key, OKX.secret, OKX.passphrase]
ADDRESS = "0x" + "ab" * 20


async def accounts_cli(settings: Settings, *args: str, stdin: str = "",
                       master: str = MASTER) -> tuple[int, str, str]:
    env = dict(os.environ, TRADEHUB_DATABASE_URL=DATABASE_URL, TRADEHUB_DB_SCHEMA=settings.db_schema,
               TRADEHUB_MASTER_KEY=master)
    for name in ("TRADEHUB_CONFIG", "TRADEHUB_MASTER_KEY_FILE"):
        env.pop(name, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.general", "accounts", *args, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def lines(*parts: str) -> str:
    return "".join(f"{part}\n" for part in parts)


async def test_keys_added_through_stdin_are_listed_masked_and_never_shown_or_stored_in_clear(
        pool: asyncpg.Pool, settings: Settings) -> None:
    outputs = [
        await accounts_cli(settings, "add", "main", "--exchange", "binance", "--scope", "trade", "--stdin",
                           stdin=lines(BINANCE.key, BINANCE.secret)),
        await accounts_cli(settings, "add", "okx-1", "--exchange", "okx", "--stdin",
                           stdin=lines(OKX.key, OKX.secret, OKX.passphrase)),
        await accounts_cli(settings, "add", "hl", "--exchange", "hyperliquid",
                           "--address", "0x" + ADDRESS[2:].upper()),  # stored in lower case
        await accounts_cli(settings, "list"),
    ]
    assert [code for code, _, _ in outputs] == [0, 0, 0, 0]
    listing = outputs[-1][1].splitlines()
    assert listing == [
        f"hl     hyperliquid  read   address {ADDRESS}",
        f"main   binance      trade  key {mask(BINANCE.key)}",
        f"okx-1  okx          read   key {mask(OKX.key)}",
    ]
    everything = "".join(out + err for _, out, err in outputs)
    assert not [secret for secret in SECRETS if secret in everything]
    # the table outside `sealed`, every column as text
    rows = await pool.fetch("SELECT (to_jsonb(a) - 'sealed')::text AS row FROM accounts a")
    stored = "".join(row["row"] for row in rows) + str(await pool.fetch("SELECT sealed FROM accounts"))
    assert len(rows) == 3 and not [secret for secret in SECRETS if secret in stored]
    async with pool.acquire() as conn:
        opened = await load_accounts(conn, parse_master_key(MASTER))
    assert [(account.id, credentials) for account, credentials in opened] == [
        ("hl", None), ("main", BINANCE), ("okx-1", OKX)]
    assert opened[0][0].address == ADDRESS and opened[1][0].scope == "trade"


@pytest.mark.parametrize("args, stdin, says", [
    (["add", "x", "--exchange", "kraken", "--stdin"], "", "unknown exchange 'kraken'"),
    (["add", "x", "--exchange", "binance_spot", "--stdin"], "", "unknown exchange"),
    (["add", "Main", "--exchange", "binance", "--stdin"], "", "account id 'Main' is not valid"),
    (["add", "a" * 41, "--exchange", "binance", "--stdin"], "", "is not valid"),
    (["add", "hl", "--exchange", "hyperliquid"], "", "give --address"),
    (["add", "hl", "--exchange", "hyperliquid", "--address", "0x1234"], "", "give --address"),
    (["add", "b", "--exchange", "binance", "--address", ADDRESS], "", "take an API key, not --address"),
    (["add", "b", "--exchange", "binance", "--stdin"], "only-a-key\n", "no API secret given"),
    (["add", "o", "--exchange", "okx", "--stdin"], "k\ns\n", "no API passphrase given"),
    (["remove", "nobody"], "", "no account 'nobody'"),
    (["alerts", "nobody", "--fills", "off"], "", "no account 'nobody'"),
])
async def test_a_bad_request_is_one_line_and_exit_status_2(
        pool: asyncpg.Pool, settings: Settings, args: list[str], stdin: str, says: str) -> None:
    code, out, err = await accounts_cli(settings, *args, stdin=stdin)
    assert code == 2 and out == ""
    assert err.splitlines() == [err.strip()] and err.startswith("error: ") and says in err
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 0


async def test_a_duplicate_id_is_refused_before_secrets_are_asked(
        pool: asyncpg.Pool, settings: Settings) -> None:
    assert (await accounts_cli(settings, "add", "main", "--exchange", "binance", "--stdin",
                               stdin=lines(BINANCE.key, BINANCE.secret)))[0] == 0
    code, out, err = await accounts_cli(settings, "add", "main", "--exchange", "okx", "--stdin",
                                        stdin=lines(OKX.key, OKX.secret, OKX.passphrase))
    assert (code, out, err) == (2, "", "error: account main already exists\n")
    async with pool.acquire() as conn:
        assert (await load_accounts(conn, parse_master_key(MASTER)))[0][1] == BINANCE


@pytest.mark.parametrize("master, fault", [("", "no master key"), ("not base64!", "not base64"),
                                           ("a2V5", "3 bytes, not 32")])
@pytest.mark.parametrize("args", [["add", "m", "--exchange", "binance", "--stdin"], ["list"],
                                  ["rotate-master-key", "--new-key-file", "/nonexistent"]])
async def test_without_a_valid_master_key_the_command_says_how_to_make_one(
        pool: asyncpg.Pool, settings: Settings, master: str, fault: str, args: list[str]) -> None:
    code, out, err = await accounts_cli(settings, *args, stdin=lines(BINANCE.key, BINANCE.secret),
                                        master=master)
    assert code == 2 and out == ""
    assert fault in err and "accounts new-master-key > key" in err and "TRADEHUB_MASTER_KEY_FILE=key" in err
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 0


async def test_new_master_key_prints_a_usable_key_and_nothing_else(settings: Settings) -> None:
    code, out, err = await accounts_cli(settings, "new-master-key", master="")
    assert code == 0 and len(parse_master_key(out)) == 32 and out.count("\n") == 1


async def test_rotation_reseals_every_row_so_only_the_new_key_opens_them(
        pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    old = parse_master_key(MASTER)
    async with pool.acquire() as conn:
        await add_account(conn, old, Account("main", "binance"), BINANCE)
        await add_account(conn, old, Account("okx-1", "okx"), OKX)
        await add_account(conn, old, Account("hl", "hyperliquid", address=ADDRESS), None)
    new_text = new_master_key()
    key_file = tmp_path / "new.key"
    key_file.write_text(new_text + "\n")
    code, out, err = await accounts_cli(settings, "rotate-master-key", "--new-key-file", str(key_file))
    assert code == 0 and out.startswith("re-sealed 2 accounts' keys")
    async with pool.acquire() as conn:
        with pytest.raises(VaultError):
            await load_accounts(conn, old)
        opened = await load_accounts(conn, parse_master_key(new_text))
    assert [credentials for _, credentials in opened] == [None, BINANCE, OKX]
    code, out, _ = await accounts_cli(settings, "list", master=new_text)
    assert code == 0 and f"key {mask(OKX.key)}" in out
    code, out, _ = await accounts_cli(settings, "list")  # the old key: every keyed row says so
    assert code == 1 and out.count("does not open with this master key") == 2
    code, _, err = await accounts_cli(settings, "rotate-master-key", "--new-key-file", str(key_file),
                                      master=new_text)
    assert code == 2 and "holds the current master key" in err


async def test_a_rotation_failing_midway_leaves_every_row_under_the_old_key(
        pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = parse_master_key(MASTER), parse_master_key(new_master_key())
    async with pool.acquire() as conn:
        for name in ("a", "b", "c"):
            await add_account(conn, old, Account(name, "binance"), BINANCE)
        before = await sealed_accounts(conn)
        sealed = []

        def seal_then_fail(*args: object) -> bytes:
            if sealed:  # the first row is already updated inside the transaction
                raise OSError("the disk went away")
            sealed.append(seal(*args))  # type: ignore[arg-type]
            return sealed[-1]

        monkeypatch.setattr(account_store, "seal", seal_then_fail)
        with pytest.raises(OSError):
            await rotate_master_key(conn, old, new)
        assert len(sealed) == 1
        assert await sealed_accounts(conn) == before
        assert [creds for _, creds in await load_accounts(conn, old)] == [BINANCE] * 3


async def test_a_row_that_does_not_open_stops_the_rotation_with_nothing_changed(
        pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    old = parse_master_key(MASTER)
    async with pool.acquire() as conn:
        await add_account(conn, old, Account("a", "binance"), BINANCE)
        await add_account(conn, parse_master_key(new_master_key()), Account("b", "bybit"), BINANCE)
        before = await sealed_accounts(conn)
    key_file = tmp_path / "new.key"
    key_file.write_text(new_master_key())
    code, out, err = await accounts_cli(settings, "rotate-master-key", "--new-key-file", str(key_file))
    assert code == 1 and out == "" and "account b (bybit) do not open" in err
    assert not [secret for secret in SECRETS if secret in err]
    async with pool.acquire() as conn:
        assert await sealed_accounts(conn) == before


async def test_a_sealed_value_copied_onto_another_account_does_not_open(pool: asyncpg.Pool) -> None:
    master = parse_master_key(MASTER)
    async with pool.acquire() as conn:
        await add_account(conn, master, Account("a", "binance"), BINANCE)
        await add_account(conn, master, Account("b", "binance"), OKX)
        await conn.execute("UPDATE accounts SET sealed = (SELECT sealed FROM accounts WHERE id = 'a') "
                           "WHERE id = 'b'")
        with pytest.raises(VaultError, match="account b"):
            await load_accounts(conn, master)


async def test_remove_deletes_the_account_and_what_was_stored_of_it(
        pool: asyncpg.Pool, settings: Settings) -> None:
    async with pool.acquire() as conn:
        await add_account(conn, parse_master_key(MASTER), Account("main", "binance"), BINANCE)
        await conn.execute("INSERT INTO account_balances VALUES ('binance', 'main', 'USDT', 10, 10, 1)")
    code, out, _ = await accounts_cli(settings, "remove", "main")
    assert code == 0 and "removed account main" in out
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 0
    assert await pool.fetchval("SELECT count(*) FROM account_balances") == 0
    assert (await accounts_cli(settings, "list"))[:2] == (0, "no accounts\n")


async def test_alerts_change_only_what_is_given(pool: asyncpg.Pool, settings: Settings) -> None:
    async with pool.acquire() as conn:
        await add_account(conn, parse_master_key(MASTER), Account("main", "binance"), BINANCE)
    code, out, _ = await accounts_cli(settings, "alerts", "main", "--fills", "off", "--fill-min-usd", "250")
    assert code == 0 and "fills=False, fill_min_usd=250, liquidations=True" in out
    code, _, _ = await accounts_cli(settings, "alerts", "main", "--reconcile", "off", master="")
    assert code == 0  # no key needed to change alerts
    async with pool.acquire() as conn:
        [(account, _)] = await sealed_accounts(conn)
    assert account.alerts == AccountAlerts(fills=False, fill_min_usd=Decimal(250), reconcile=False)


def test_the_prompt_asks_for_each_secret_without_echo() -> None:
    asked: list[str] = []
    answers = iter([OKX.key, OKX.secret, OKX.passphrase])

    def prompt(text: str) -> str:
        asked.append(text)
        return next(answers)

    assert read_credentials("okx", False, prompt=prompt) == OKX
    assert asked == ["okx API key: ", "okx API secret: ", "okx API passphrase: "]
    piped = io.StringIO(lines(BINANCE.key, BINANCE.secret, "ignored"))
    assert read_credentials("binance", True, stdin=piped) == BINANCE
    with pytest.raises(Refused, match="no API key or secret given"):
        read_credentials("binance", False, prompt=lambda text: " ")

    def closed(text: str) -> str:
        raise EOFError

    with pytest.raises(Refused, match="no API key or secret given"):
        read_credentials("binance", False, prompt=closed)


def test_no_secret_is_taken_from_argv() -> None:
    for option in ("--key", "--secret", "--passphrase"):
        with pytest.raises(SystemExit):
            parser().parse_args(["accounts", "add", "m", "--exchange", "binance", option, "x"])


def test_the_exchanges_agree_with_the_registry() -> None:
    declared = {venue.exchange: venue.account.needs_key for venue in REGISTRY if venue.account is not None}
    assert declared.items() <= PLANNED_SIDES.items()
    assert private_sides() == PLANNED_SIDES
