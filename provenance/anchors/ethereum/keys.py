"""Where Ethereum signing keys come from, and what a key looks like.

A key comes from an environment variable (`ETH_PRIVATE_KEY`), an Ape keystore account, or a dict
held in memory (`KeySigner.from_config_value`); never from a config file. It never goes into a
log, a message or a file: the key stays inside the `eth_account` object that signs, a `KeySigner`
shows only its address, refuses to be pickled, and every error here describes the key without
quoting it. What a key pasted where it does not belong looks like is `provenance.secrets`' job.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn, Protocol, runtime_checkable

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ...errors import ConfigError

KEY_ENV = "ETH_PRIVATE_KEY"
ACCOUNT_ENV = "PROVENANCE_ETH_ACCOUNT"  # the alias of an Ape keystore account


class Signer(Protocol):
    """Sends one transaction from `address`. The anchoring hot path sends without web3.py where
    the signer lets it: a `NodeSigner`'s transaction goes out as `eth_sendTransaction`, a
    `SignsLocally` one's as the raw transaction it signs; any other signer is handed the built
    transaction through `send`."""

    address: str

    def send(self, w3: Web3, tx: dict[str, Any]) -> bytes: ...


@runtime_checkable
class SignsLocally(Protocol):
    """A signer that signs here: `sign_transaction` returns the raw signed transaction (its
    `nonce` and `chainId` given in `tx`), for the caller to send however it sends."""

    address: str

    def sign_transaction(self, tx: dict[str, Any]) -> bytes: ...


class NodeSigner:
    """An account the node itself unlocks (anvil's and Ape's development accounts): the node
    signs what `eth_sendTransaction` gives it."""

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
        return bytes(w3.eth.send_raw_transaction(self.sign_transaction(tx)))

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        """The raw signed transaction (EIP-1559 with fee caps, else legacy with `gasPrice`), as
        eth_account validates, encodes and signs it."""
        return bytes(self._account.sign_transaction(tx).raw_transaction)

    def __repr__(self) -> str:
        return f"KeySigner({self.address} from {self.source})"

    __str__ = __repr__

    # One object per key: copies of a config share it, and nothing serialises it.
    def __copy__(self) -> KeySigner:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> KeySigner:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("a KeySigner holds a private key and is never pickled or written")

    @classmethod
    def from_hex(cls, text: str, where: str, source: str) -> KeySigner:
        """A signer from a hex key given in memory; errors name `where`, never the key."""
        return cls(_account_from_hex(text, where), source)


def signer_from_environment(environ: dict[str, str] | None = None) -> KeySigner | None:
    """A signer from `ETH_PRIVATE_KEY`, else from the Ape keystore alias in `PROVENANCE_ETH_ACCOUNT`,
    else None."""
    environ = dict(os.environ if environ is None else environ)
    if environ.get(KEY_ENV):
        return KeySigner(_account_from_hex(environ[KEY_ENV], f"${KEY_ENV}"), f"${KEY_ENV}")
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


def _account_from_hex(text: str, where: str) -> LocalAccount:
    body = text.strip()
    body = body[2:] if body[:2] in ("0x", "0X") else body
    if len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
        # Describe, never echo, what was found: it may be a real key with a typo.
        raise ConfigError(f"{where}: expected 64 hex characters (optionally 0x-prefixed), found {len(body)} characters")
    try:
        return Account.from_key(bytes.fromhex(body))
    except ValueError:
        raise ConfigError(f"{where}: expected a valid secp256k1 private key, found a value out of range") from None
