"""The vault on its own: sealed credentials open only with their master key and for their own
account and exchange; altered bytes are refused; a bad master key says how to make one."""
from __future__ import annotations

import base64

import pytest

from shared.accounts import Credentials
from shared.settings import AccountSettings
from shared.vault import (
    HOW_TO_MAKE_ONE,
    MasterKeyError,
    VaultError,
    master_key,
    new_master_key,
    parse_master_key,
    seal,
    unseal,
)

CREDS = Credentials(key="AKIDkey0123456789", secret="s3cr3t-the-secret-part", passphrase="pass-phrase")
SECRET_PARTS = [CREDS.key, CREDS.secret, CREDS.passphrase]


def key() -> bytes:
    return parse_master_key(new_master_key())


def test_seal_then_unseal_gives_the_credentials_back() -> None:
    master = key()
    sealed = seal(master, "main", "okx", CREDS)
    assert unseal(master, "main", "okx", sealed) == CREDS
    plain = len(b'{"key":"","secret":"","passphrase":""}') + sum(map(len, SECRET_PARTS))
    assert len(sealed) == 12 + plain + 16  # nonce || ciphertext || tag
    assert not any(part.encode() in sealed for part in SECRET_PARTS)
    assert seal(master, "main", "okx", CREDS) != sealed  # a fresh nonce every time


def test_a_row_moved_to_another_account_or_exchange_does_not_open() -> None:
    master = key()
    sealed = seal(master, "main", "binance", CREDS)
    for account, exchange in [("other", "binance"), ("main", "bybit"), ("mai", "nbinance")]:
        with pytest.raises(VaultError) as refused:
            unseal(master, account, exchange, sealed)
        assert account in str(refused.value)
        assert not any(part in str(refused.value) for part in SECRET_PARTS)


def test_a_wrong_master_key_does_not_open() -> None:
    sealed = seal(key(), "main", "binance", CREDS)
    with pytest.raises(VaultError) as refused:
        unseal(key(), "main", "binance", sealed)
    assert not any(part in str(refused.value) for part in SECRET_PARTS)


@pytest.mark.parametrize("where", [0, 11, 12, 20, -17, -1])  # nonce, ciphertext, tag
def test_any_altered_byte_is_refused(where: int) -> None:
    master = key()
    sealed = bytearray(seal(master, "main", "binance", CREDS))
    sealed[where] ^= 0x01
    with pytest.raises(VaultError):
        unseal(master, "main", "binance", bytes(sealed))


def test_truncated_values_are_refused() -> None:
    master = key()
    sealed = seal(master, "main", "binance", CREDS)
    for cut in (b"", sealed[:27], sealed[:-1]):
        with pytest.raises(VaultError):
            unseal(master, "main", "binance", cut)


def test_new_master_key_is_base64_of_32_random_bytes() -> None:
    first, second = new_master_key(), new_master_key()
    assert len(base64.b64decode(first, validate=True)) == 32
    assert first != second
    assert master_key(AccountSettings(master_key=first)) == base64.b64decode(first)
    padded = f"  {first}\n"  # as a file may hold it
    assert master_key(AccountSettings(master_key=padded)) == base64.b64decode(first)


@pytest.mark.parametrize("text, fault", [
    ("", "no master key"),
    ("   \n", "no master key"),
    ("not base64 at all!", "not base64"),
    (base64.b64encode(b"k" * 32).decode()[:-2] + "*=", "not base64"),
    (base64.b64encode(b"k" * 16).decode(), "16 bytes, not 32"),
    (base64.b64encode(b"k" * 33).decode(), "33 bytes, not 32"),
])
def test_a_bad_master_key_says_what_is_wrong_and_how_to_make_one(text: str, fault: str) -> None:
    with pytest.raises(MasterKeyError) as bad:
        master_key(AccountSettings(master_key=text))
    message = str(bad.value)
    assert fault in message
    assert HOW_TO_MAKE_ONE in message
    assert "new-master-key" in message and "TRADEHUB_MASTER_KEY_FILE" in message
    if text.strip():
        assert text.strip() not in message  # never the key's text


def test_sealing_with_a_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(MasterKeyError):
        seal(b"short", "main", "binance", CREDS)


def test_credentials_repr_names_no_secret() -> None:
    shown = repr(CREDS) + str(CREDS)
    assert not any(part in shown for part in SECRET_PARTS)
