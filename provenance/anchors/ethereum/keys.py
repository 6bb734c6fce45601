"""Where Ethereum signing keys come from, and what a key looks like.

A key comes from an environment variable (`ETH_PRIVATE_KEY`), an Ape keystore account, or a dict
held in memory (`KeySigner.from_config_value`); never from a config file. It never goes into a
log, a message or a file: the key stays inside the `eth_account` object that signs, a `KeySigner`
shows only its address, refuses to be pickled, and every error here describes the key without
quoting it. `secret_kind` recognises private keys pasted where they do not belong (32-byte hex,
WIF, extended private keys, BIP-39 phrases) so that the config can refuse them.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import sys
from functools import lru_cache
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


# ---------------------------------------------------------------- what a key looks like

_HEX_KEY = re.compile(r"(?<![0-9A-Za-z])(?:0[xX])?[0-9a-fA-F]{64}(?![0-9A-Za-z])")
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_TOKEN = re.compile(f"[{_B58}]{{50,}}")
_EXTENDED = re.compile(f"(?<![{_B58}])[xtyzuvYZUV]prv[{_B58}]{{100,112}}")


def secret_kind(text: str) -> str | None:
    """What kind of private key `text` holds somewhere inside it, or None. Never returns the key.

    32-byte hex (with or without 0x, anywhere in the text: a key inside a URL counts), a WIF key
    (base58check, version 0x80 or 0xef), an extended private key (xprv/tprv and the SLIP-132
    prefixes), or a BIP-39 phrase (12 or more consecutive words of the English list)."""
    if _HEX_KEY.search(text):
        return "32-byte hex private key"
    if _EXTENDED.search(text):
        return "extended private key"
    if any(_is_wif(token) for token in _B58_TOKEN.findall(text)):
        return "WIF private key"
    if _has_phrase(text):
        return "BIP-39 mnemonic phrase"
    return None


def secret_parts(text: str) -> list[str]:
    """The pieces of `text` that `secret_kind` takes for private keys (all of `text` for a
    mnemonic phrase), to take out of a message that quotes `text` whole or in part."""
    if _has_phrase(text):
        return [text]
    return (_HEX_KEY.findall(text) + _EXTENDED.findall(text)
            + [token for token in _B58_TOKEN.findall(text) if _is_wif(token)])


def _is_wif(token: str) -> bool:
    if len(token) not in (51, 52):
        return False
    number = 0
    for char in token:
        number = number * 58 + _B58.index(char)
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    payload, check = raw[:-4], raw[-4:]
    return (
        len(payload) in (33, 34)
        and payload[0] in (0x80, 0xEF)
        and (len(payload) == 33 or payload[-1] == 0x01)
        and hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == check
    )


@lru_cache(maxsize=1)
def _bip39_words() -> frozenset[str]:
    # eth-account ships the BIP-39 English list (2048 words); no network needed
    from eth_account.hdaccount import mnemonic

    path = Path(mnemonic.__file__).parent / "wordlist" / "english.txt"
    return frozenset(path.read_text(encoding="utf-8").split())


def _has_phrase(text: str) -> bool:
    words = _bip39_words()
    run = 0
    for token in re.split(r"[\s,;]+", text.lower()):
        run = run + 1 if token in words else 0
        if run >= 12:
            return True
    return False
