"""The credentials vault: exchange API keys sealed with AES-256-GCM under the master key
(settings.accounts.master_key), each bound to its account so a sealed row copied onto another
account, or read with another key, does not open. Nothing here puts a secret in a message.

A sealed value is nonce (12 bytes) || ciphertext || tag (16 bytes); the associated data is
"tradehub:<exchange>:<account id>"; the plaintext is the credentials as JSON.
"""
from __future__ import annotations

import base64
import binascii
import os

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.accounts import Credentials
from shared.settings import AccountSettings

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM nonce NIST SP 800-38D recommends; random per seal
TAG_BYTES = 16
HOW_TO_MAKE_ONE = ("make one with `python -m services.general accounts new-master-key > key; chmod 600 key` "
                   "and start with TRADEHUB_MASTER_KEY_FILE=key")
_credentials = msgspec.json.Decoder(Credentials)


class MasterKeyError(Exception):
    """No usable master key: the message says what is wrong with it (never its text) and how to
    make one. Services that need credentials exit with it at start."""


class VaultError(Exception):
    """Sealed credentials that do not open: another master key, another account's row, or altered
    bytes. The message names the account, never a secret."""


def parse_master_key(text: str, origin: str = "TRADEHUB_MASTER_KEY") -> bytes:
    """The 32 key bytes of a base64 master key; MasterKeyError naming the fault otherwise."""
    text = text.strip()
    if not text:
        raise MasterKeyError(f"no master key ({origin} is empty): {HOW_TO_MAKE_ONE}")
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"the master key ({origin}) is not base64: {HOW_TO_MAKE_ONE}") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"the master key ({origin}) is {len(key)} bytes, not {KEY_BYTES}: "
                             f"{HOW_TO_MAKE_ONE}")
    return key


def master_key(settings: AccountSettings) -> bytes:
    """The configured master key, checked; call it at start so a bad key stops the service at once."""
    return parse_master_key(settings.master_key, "TRADEHUB_MASTER_KEY or TRADEHUB_MASTER_KEY_FILE")


def new_master_key() -> str:
    """A fresh random master key as base64, the form the settings take."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def associated_data(account_id: str, exchange: str) -> bytes:
    """What binds a sealed value to its account: authenticated, not encrypted."""
    return f"tradehub:{exchange}:{account_id}".encode()


def _cipher(master: bytes) -> AESGCM:
    if len(master) != KEY_BYTES:
        raise MasterKeyError(f"the master key is {len(master)} bytes, not {KEY_BYTES}: {HOW_TO_MAKE_ONE}")
    return AESGCM(master)


def seal(master: bytes, account_id: str, exchange: str, credentials: Credentials) -> bytes:
    """The credentials encrypted under the master key for this account alone."""
    nonce = os.urandom(NONCE_BYTES)
    plain = msgspec.json.encode(credentials)
    return nonce + _cipher(master).encrypt(nonce, plain, associated_data(account_id, exchange))


def unseal(master: bytes, account_id: str, exchange: str, sealed: bytes) -> Credentials:
    """The credentials of this account; VaultError when the key, the account or a byte differs."""
    cipher = _cipher(master)
    refused = VaultError(f"the credentials of account {account_id} ({exchange}) do not open: another "
                         "master key, a row sealed for another account, or altered bytes")
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise refused
    try:
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        plain = cipher.decrypt(nonce, body, associated_data(account_id, exchange))
    except InvalidTag:
        raise refused from None
    try:
        return _credentials.decode(plain)
    except msgspec.DecodeError:  # authentic but not ours: sealed by something else under this key
        raise refused from None
