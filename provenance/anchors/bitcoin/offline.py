"""Build and sign an OP_RETURN anchor transaction off the node, from one UTXO and one key.

For users who keep keys away from any node: the signed transaction is printed or handed to
`BitcoinAnchor.broadcast`, which any node can relay without a wallet. Bitcoin Core format spends
a P2WPKH (witness, BIP143 digest) or P2PKH (legacy digest) output; the SV format spends P2PKH
with SIGHASH_ALL|FORKID (the BIP143 digest with the fork-id flag). The dialect table decides.

The key stays inside a python-bitcoinlib `CKey`; nothing here prints, logs or returns it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bitcoin.base58 import Base58ChecksumError, CBase58Data, InvalidBase58Error
from bitcoin.core import (
    CMutableTransaction,
    CMutableTxIn,
    CMutableTxOut,
    COutPoint,
    CTxInWitness,
    CTxWitness,
    Hash160,
    b2lx,
    lx,
)
from bitcoin.core.script import SIGVERSION_BASE, SIGVERSION_WITNESS_V0, CScript, CScriptWitness, SignatureHash
from bitcoin.wallet import CKey

from ...errors import AnchorError, ConfigError, FormatError
from .dialects import CORE, Dialect, data_script

DUST_LIMIT = 546  # satoshis; a smaller change output is not relayed
WIF_VERSIONS = {"main": 0x80}  # every other chain (test, signet, regtest, stn) uses 0xef
WIF_TEST_VERSION = 0xEF
_TXID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Utxo:
    """The output to spend: where it is, how many satoshis, and the script that locks it."""

    txid: str
    vout: int
    amount: int  # satoshis
    script_pubkey: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.txid, str) or not _TXID.fullmatch(self.txid):
            raise FormatError(f"UTXO txid: expected 64 lowercase hex characters, found {str(self.txid)[:80]!r}")
        if isinstance(self.vout, bool) or not isinstance(self.vout, int) or self.vout < 0:
            raise FormatError(f"UTXO vout: expected an output index >= 0, found {self.vout!r}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise FormatError(f"UTXO amount: expected a positive number of satoshis, found {self.amount!r}")


@dataclass(frozen=True)
class SignedTx:
    """A signed anchor transaction, ready to broadcast."""

    raw: str  # hex
    txid: str
    vout: int  # the OP_RETURN output
    fee: int  # satoshis
    vsize: int


def key_from_wif(wif: str, chain: str) -> CKey:
    """A signing key from a WIF string for `chain` (main, or any test chain). Errors describe the
    string without quoting it: it may be a real key with a typo."""
    try:
        data = CBase58Data(wif.strip())
    except (Base58ChecksumError, InvalidBase58Error, ValueError):
        raise ConfigError(f"offline key: expected a WIF private key, found {len(wif.strip())} characters that do not decode") from None
    expected = WIF_VERSIONS.get(chain, WIF_TEST_VERSION)
    if data.nVersion != expected:
        raise ConfigError(f"offline key: expected a WIF key for chain {chain!r} (version 0x{expected:02x}), found version 0x{data.nVersion:02x}")
    payload = bytes(data)
    if len(payload) == 33 and payload[32] == 1:
        return CKey(payload[:32], compressed=True)
    if len(payload) == 32:
        return CKey(payload, compressed=False)
    raise ConfigError(f"offline key: expected 32 key bytes (+0x01 if compressed), found {len(payload)}")


def p2pkh_script(pubkey: bytes) -> bytes:
    return b"\x76\xa9\x14" + Hash160(pubkey) + b"\x88\xac"  # DUP HASH160 <20> EQUALVERIFY CHECKSIG


def p2wpkh_script(pubkey: bytes) -> bytes:
    return b"\x00\x14" + Hash160(pubkey)  # witness v0, <20>


def build_anchor_tx(root: bytes, utxo: Utxo, key: CKey, *, dialect: Dialect = CORE, fee_rate: int = 2) -> SignedTx:
    """One input (`utxo`, locked to `key`), two outputs: the root's OP_RETURN (0 coins) and the
    change back to the UTXO's own script. `fee_rate` in satoshis per virtual byte."""
    if len(root) != 32:
        raise FormatError(f"root: expected 32 bytes, found {len(root)}")
    if isinstance(fee_rate, bool) or not isinstance(fee_rate, int) or fee_rate < 1:
        raise ConfigError(f"fee rate: expected an integer >= 1 sat/vB, found {fee_rate!r}")
    pubkey = bytes(key.pub)
    segwit = utxo.script_pubkey == p2wpkh_script(pubkey)
    if segwit and not dialect.segwit:
        raise FormatError(f"UTXO script: a P2WPKH output cannot be spent in the {dialect.name} dialect (no segwit)")
    if not segwit and utxo.script_pubkey != p2pkh_script(pubkey):
        raise FormatError("UTXO script: expected P2PKH or P2WPKH of the given key, found another script")
    # Sign once to learn the size, then again with the final change (signature sizes differ by
    # at most a byte, covered by the +1).
    vsize = _vsize(_signed(root, utxo, key, utxo.amount, dialect, segwit))
    fee = fee_rate * (vsize + 1)
    change = utxo.amount - fee
    if change < DUST_LIMIT:
        raise AnchorError(
            f"insufficient funds: the UTXO holds {utxo.amount} sat, expected at least {fee + DUST_LIMIT} "
            f"(fee {fee} + {DUST_LIMIT} sat change)"
        )
    tx = _signed(root, utxo, key, change, dialect, segwit)
    return SignedTx(raw=tx.serialize().hex(), txid=b2lx(tx.GetTxid()), vout=0, fee=fee, vsize=_vsize(tx))


def signature_hash(tx: CMutableTransaction, index: int, script_code: bytes, amount: int, dialect: Dialect, segwit: bool) -> bytes:
    """The digest the input's signature commits to: BIP143 for witness inputs and for SV's
    FORKID inputs, the legacy digest otherwise."""
    sigversion = SIGVERSION_WITNESS_V0 if segwit or dialect.forkid_digest else SIGVERSION_BASE
    return SignatureHash(CScript(script_code), tx, index, dialect.sighash_type, amount, sigversion)


def _signed(root: bytes, utxo: Utxo, key: CKey, change: int, dialect: Dialect, segwit: bool) -> CMutableTransaction:
    pubkey = bytes(key.pub)
    tx = CMutableTransaction(
        [CMutableTxIn(COutPoint(lx(utxo.txid), utxo.vout))],
        [CMutableTxOut(0, CScript(data_script(root, dialect))), CMutableTxOut(change, CScript(utxo.script_pubkey))],
        nVersion=2,
    )
    # A P2WPKH input signs the P2PKH script of its key hash (BIP143's scriptCode).
    digest = signature_hash(tx, 0, p2pkh_script(pubkey), utxo.amount, dialect, segwit)
    signature = key.sign(digest) + bytes([dialect.sighash_type])
    if segwit:
        tx.wit = CTxWitness([CTxInWitness(CScriptWitness([signature, pubkey]))])
    else:
        tx.vin[0].scriptSig = CScript([signature, pubkey])
    return tx


def _vsize(tx: CMutableTransaction) -> int:
    base = len(tx.serialize(dict(include_witness=False)))
    total = len(tx.serialize())
    return (base * 3 + total + 3) // 4
