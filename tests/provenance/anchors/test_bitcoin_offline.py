"""Offline transaction building in Bitcoin Core format, checked by construction (no Core node can
be installed here): the serialised transaction is decoded again, its OP_RETURN payload read, its
txid recomputed with hashlib, and its signature checked with a pure-Python secp256k1 (eth-keys)
over the BIP143 digest, whose computation is pinned to BIP143's published test vector."""

from __future__ import annotations

import hashlib

import pytest
from bitcoin.base58 import CBase58Data
from bitcoin.core import CMutableTransaction, CTransaction, b2lx
from bitcoin.core.script import CScript
from bitcoin.core.scripteval import SCRIPT_VERIFY_P2SH, EvalScriptError, VerifyScript, VerifyScriptError
from bitcoin.wallet import CKey
from eth_keys.backends.native.ecdsa import decompress_public_key, ecdsa_raw_verify

from provenance.anchors.bitcoin.dialects import CORE, SV
from provenance.anchors.bitcoin.offline import (
    Utxo,
    build_anchor_tx,
    key_from_wif,
    p2pkh_script,
    p2wpkh_script,
    signature_hash,
)
from provenance.errors import AnchorError, ConfigError, FormatError

ROOT = bytes.fromhex("5e" * 32)
KEY = CKey(hashlib.sha256(b"provenance offline test key").digest())
PUB = bytes(KEY.pub)
FUNDING = "0f" * 32

# BIP143, "Native P2WPKH": the second input spends 6 BTC from a P2WPKH output.
BIP143_UNSIGNED = bytes.fromhex(
    "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffffff"
    "ef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206"
    "000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42db"
    "ee7e4dbe6a21b2d50ce2f0167faa815988ac11000000"
)
BIP143_PUBKEY = bytes.fromhex("025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee6357")
BIP143_SIGHASH = "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670"
BIP143_SIGNATURE = bytes.fromhex(
    "304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a"
    "0220573a954c4518331561406f90300e8f3358f51928d43c212a8caed02de67eebee"
)


def der_to_rs(der: bytes) -> tuple[int, int]:
    """(r, s) of a DER ECDSA signature, parsed here so the check does not trust the signer."""
    assert der[0] == 0x30 and der[1] == len(der) - 2
    assert der[2] == 0x02
    r_len = der[3]
    r = int.from_bytes(der[4 : 4 + r_len], "big")
    assert der[4 + r_len] == 0x02
    s_len = der[5 + r_len]
    s = int.from_bytes(der[6 + r_len : 6 + r_len + s_len], "big")
    return r, s


def signature_valid(digest: bytes, der: bytes, compressed_pubkey: bytes) -> bool:
    return ecdsa_raw_verify(digest, der_to_rs(der), decompress_public_key(compressed_pubkey))


def double_sha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def test_bip143_vector_pins_the_digest_and_the_verifier():
    tx = CTransaction.deserialize(BIP143_UNSIGNED)
    digest = signature_hash(tx, 1, p2pkh_script(BIP143_PUBKEY), 600_000_000, CORE, segwit=True)
    assert digest.hex() == BIP143_SIGHASH
    assert signature_valid(digest, BIP143_SIGNATURE, BIP143_PUBKEY)
    assert not signature_valid(bytes(32), BIP143_SIGNATURE, BIP143_PUBKEY)


def test_core_p2wpkh_transaction_decodes_and_its_signature_holds():
    utxo = Utxo(FUNDING, 1, 50_000, p2wpkh_script(PUB))
    signed = build_anchor_tx(ROOT, utxo, KEY, fee_rate=3)
    raw = bytes.fromhex(signed.raw)
    tx = CTransaction.deserialize(raw)

    assert raw[4:6] == b"\x00\x01"  # segwit marker and flag
    assert b2lx(tx.vin[0].prevout.hash) == FUNDING and tx.vin[0].prevout.n == 1
    assert len(tx.vin[0].scriptSig) == 0
    assert bytes(tx.vout[0].scriptPubKey) == b"\x6a\x20" + ROOT and tx.vout[0].nValue == 0
    assert bytes(tx.vout[1].scriptPubKey) == utxo.script_pubkey
    assert tx.vout[1].nValue == utxo.amount - signed.fee
    assert signed.fee == 3 * (signed.vsize + 1)

    stripped = tx.serialize(dict(include_witness=False))
    assert signed.txid == double_sha256(stripped)[::-1].hex()
    assert signed.vsize == (3 * len(stripped) + len(raw) + 3) // 4

    sig, pubkey = tx.wit.vtxinwit[0].scriptWitness.stack
    assert sig[-1] == 0x01 and pubkey == PUB
    digest = signature_hash(tx, 0, p2pkh_script(pubkey), utxo.amount, CORE, segwit=True)
    assert signature_valid(digest, sig[:-1], pubkey)
    # The digest commits to the amount and outputs: change either and the signature fails.
    assert not signature_valid(signature_hash(tx, 0, p2pkh_script(pubkey), utxo.amount + 1, CORE, True), sig[:-1], pubkey)


def test_core_p2pkh_transaction_passes_script_evaluation():
    utxo = Utxo(FUNDING, 0, 80_000, p2pkh_script(PUB))
    signed = build_anchor_tx(ROOT, utxo, KEY)
    tx = CTransaction.deserialize(bytes.fromhex(signed.raw))
    assert not tx.has_witness()
    spent = CScript(utxo.script_pubkey)
    VerifyScript(tx.vin[0].scriptSig, spent, tx, 0, (SCRIPT_VERIFY_P2SH,))
    other_key = CScript(p2pkh_script(bytes(CKey(hashlib.sha256(b"another key").digest()).pub)))
    with pytest.raises((VerifyScriptError, EvalScriptError)):
        VerifyScript(tx.vin[0].scriptSig, other_key, tx, 0, (SCRIPT_VERIFY_P2SH,))
    tampered = CMutableTransaction.from_tx(tx)
    tampered.vout[0].scriptPubKey = CScript(b"\x6a\x20" + bytes(32))
    with pytest.raises((VerifyScriptError, EvalScriptError)):
        VerifyScript(tampered.vin[0].scriptSig, spent, tampered, 0, (SCRIPT_VERIFY_P2SH,))


def test_sv_dialect_uses_forkid_and_refuses_segwit():
    signed = build_anchor_tx(ROOT, Utxo(FUNDING, 0, 80_000, p2pkh_script(PUB)), KEY, dialect=SV)
    tx = CTransaction.deserialize(bytes.fromhex(signed.raw))
    sig = list(tx.vin[0].scriptSig)[0]
    assert sig[-1] == 0x41  # SIGHASH_ALL | SIGHASH_FORKID
    assert bytes(tx.vout[0].scriptPubKey) == b"\x00\x6a\x20" + ROOT
    with pytest.raises(FormatError, match="cannot be spent in the sv dialect"):
        build_anchor_tx(ROOT, Utxo(FUNDING, 0, 80_000, p2wpkh_script(PUB)), KEY, dialect=SV)


def test_bad_inputs_are_one_line_errors():
    other = bytes(CKey(hashlib.sha256(b"another key").digest()).pub)
    with pytest.raises(FormatError, match="expected P2PKH or P2WPKH of the given key"):
        build_anchor_tx(ROOT, Utxo(FUNDING, 0, 80_000, p2wpkh_script(other)), KEY)
    with pytest.raises(AnchorError, match="insufficient funds: the UTXO holds 600 sat"):
        build_anchor_tx(ROOT, Utxo(FUNDING, 0, 600, p2wpkh_script(PUB)), KEY)
    with pytest.raises(FormatError, match="root: expected 32 bytes, found 20"):
        build_anchor_tx(ROOT[:20], Utxo(FUNDING, 0, 80_000, p2wpkh_script(PUB)), KEY)
    with pytest.raises(FormatError, match="UTXO txid: expected 64 lowercase hex"):
        Utxo("xyz", 0, 1, b"")
    with pytest.raises(FormatError, match="UTXO amount: expected a positive number"):
        Utxo(FUNDING, 0, 0, b"")


def test_wif_keys_are_checked_and_never_echoed():
    secret = hashlib.sha256(b"wif test").digest()
    wif = str(CBase58Data.from_bytes(secret + b"\x01", 0xEF))  # compressed, for test chains
    assert bytes(key_from_wif(wif, "regtest").pub) == bytes(CKey(secret).pub)
    with pytest.raises(ConfigError, match="expected a WIF key for chain 'main' \\(version 0x80\\), found version 0xef") as info:
        key_from_wif(wif, "main")
    assert wif not in str(info.value)
    typo = wif[:-1] + ("a" if wif[-1] != "a" else "b")
    with pytest.raises(ConfigError, match=f"found {len(wif)} characters that do not decode") as info:
        key_from_wif(typo, "regtest")
    assert typo not in str(info.value)
