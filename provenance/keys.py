"""Where Ethereum signing keys come from: an environment variable or an Ape keystore account.

Never from a config file, and never into a log, a message or a file: the key stays inside the
`eth_account` object that signs, and every error here describes the key without quoting it.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any, Protocol

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from .errors import ConfigError

KEY_ENV = "ETH_PRIVATE_KEY"
ACCOUNT_ENV = "PROVENANCE_ETH_ACCOUNT"  # the alias of an Ape keystore account


class Signer(Protocol):
    """Sends one transaction from `address`."""

    address: str

    def send(self, w3: Web3, tx: dict[str, Any]) -> bytes: ...


class NodeSigner:
    """An account the node itself unlocks (anvil's and Ape's development accounts)."""

    def __init__(self, address: str) -> None:
        self.address = Web3.to_checksum_address(address)

    def send(self, w3: Web3, tx: dict[str, Any]) -> bytes:
        return bytes(w3.eth.send_transaction(tx))  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"NodeSigner({self.address})"


class KeySigner:
    """Signs locally; the key is held by the `LocalAccount` and not exposed by this object."""

    def __init__(self, account: LocalAccount, source: str) -> None:
        self._account = account
        self.address = account.address
        self.source = source

    def send(self, w3: Web3, tx: dict[str, Any]) -> bytes:
        tx = dict(tx)
        tx.setdefault("nonce", w3.eth.get_transaction_count(self.address, "pending"))
        signed = self._account.sign_transaction(tx)
        return bytes(w3.eth.send_raw_transaction(signed.raw_transaction))

    def __repr__(self) -> str:
        return f"KeySigner({self.address} from {self.source})"


def signer_from_environment(environ: dict[str, str] | None = None) -> KeySigner | None:
    """A signer from `ETH_PRIVATE_KEY`, else from the Ape keystore alias in `PROVENANCE_ETH_ACCOUNT`,
    else None."""
    environ = dict(os.environ if environ is None else environ)
    if environ.get(KEY_ENV):
        return KeySigner(_account_from_hex(environ[KEY_ENV]), f"${KEY_ENV}")
    if environ.get(ACCOUNT_ENV):
        return ape_keystore_signer(environ[ACCOUNT_ENV], environ)
    return None


def ape_keystore_signer(alias: str, environ: dict[str, str] | None = None) -> KeySigner:
    """Decrypt the Ape keystore account `alias` ($APE_DATA_FOLDER/accounts/<alias>.json).

    The passphrase comes from `APE_ACCOUNTS_<alias>_PASSPHRASE` (Ape's own convention) or, on a
    terminal, from a prompt.
    """
    environ = dict(os.environ if environ is None else environ)
    folder = Path(environ.get("APE_DATA_FOLDER") or Path.home() / ".ape") / "accounts"
    path = folder / f"{alias}.json"
    if not path.is_file():
        raise ConfigError(f"Ape account {alias!r}: expected a keystore file at {path}, found none (ape accounts import {alias})")
    passphrase = environ.get(f"APE_ACCOUNTS_{alias}_PASSPHRASE")
    if passphrase is None:
        if not sys.stdin.isatty():
            raise ConfigError(f"Ape account {alias!r}: expected its passphrase in $APE_ACCOUNTS_{alias}_PASSPHRASE or a terminal")
        passphrase = getpass.getpass(f"Passphrase for Ape account {alias!r}: ")
    try:
        key = Account.decrypt(json.loads(path.read_text()), passphrase)
    except ValueError:
        raise ConfigError(f"Ape account {alias!r}: the passphrase does not decrypt {path}") from None
    return KeySigner(Account.from_key(key), f"Ape account {alias!r}")


def _account_from_hex(text: str) -> LocalAccount:
    body = text.strip()
    body = body[2:] if body[:2] in ("0x", "0X") else body
    if len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
        # Describe, never echo, what was found: it may be a real key with a typo.
        raise ConfigError(f"${KEY_ENV}: expected 64 hex characters (optionally 0x-prefixed), found {len(body)} characters")
    try:
        return Account.from_key(bytes.fromhex(body))
    except ValueError:
        raise ConfigError(f"${KEY_ENV}: not a valid secp256k1 private key") from None
