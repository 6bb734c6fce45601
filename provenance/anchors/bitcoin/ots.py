"""OpenTimestamps proofs checked against a Bitcoin node's block headers.

`verify_ots` hashes the file with the proof's hash operation, follows the proof to each Bitcoin
block-header attestation, and compares the merkle root it reaches with the node's header at that
height. It never calls a calendar: stamping and upgrading a proof (`ots stamp`, `ots upgrade`)
need the public calendar servers, an online step outside this package. A proof whose
attestations are still pending at a calendar is reported as such and does not verify.

`proof_from_anchor` builds a proof for a sha256 digest that one of our own Bitcoin anchors
committed (the digest as the OP_RETURN payload), from the block the node holds: the same path
from digest to block merkle root that the calendars build, with no calendar involved.
"""

from __future__ import annotations

from pathlib import Path

from bitcoin.core import CBlock
from opentimestamps.bitcoin import make_timestamp_from_block
from opentimestamps.core.notary import BitcoinBlockHeaderAttestation, PendingAttestation
from opentimestamps.core.op import OpSHA256
from opentimestamps.core.serialize import (
    BytesDeserializationContext,
    BytesSerializationContext,
    DeserializationError,
    SerializerTypeError,
    SerializerValueError,
)
from opentimestamps.core.timestamp import DetachedTimestampFile

from ...errors import AnchorError, FormatError
from ...record.receipts import Verdict
from .backend import BitcoinAnchor
from .rpc import RPC_INVALID_PARAMETER, RpcError

NETWORK = "opentimestamps"


def load_proof(data: bytes, what: str = "proof") -> DetachedTimestampFile:
    """A detached `.ots` proof from its bytes; a one-line `FormatError` if it is not one."""
    try:
        return DetachedTimestampFile.deserialize(BytesDeserializationContext(data))
    except (DeserializationError, SerializerTypeError, SerializerValueError, ValueError, KeyError) as e:
        raise FormatError(f"{what}: expected an OpenTimestamps proof (.ots), found bytes that do not parse ({type(e).__name__})") from None


def verify_ots(anchor: BitcoinAnchor, proof: bytes, file: Path | str) -> Verdict:
    """Check that `proof` timestamps `file` in a block of the node's chain, with at least the
    anchor's configured confirmations. A node that cannot be reached is a failed verdict."""
    file = Path(file)
    detached = load_proof(proof)
    try:
        with open(file, "rb") as f:
            digest = detached.file_hash_op.hash_fd(f)
    except OSError as e:
        raise FormatError(f"{file}: expected a readable file ({e.strerror})") from None
    if digest != detached.file_digest:
        return Verdict(
            NETWORK, False,
            f"{file.name}: its {detached.file_hash_op.TAG_NAME} digest {digest.hex()} differs from the proof's "
            f"{detached.file_digest.hex()}: the proof is for another file",
        )
    bitcoin, pending = [], []
    for msg, attestation in detached.timestamp.all_attestations():
        if isinstance(attestation, BitcoinBlockHeaderAttestation):
            bitcoin.append((attestation.height, msg))
        elif isinstance(attestation, PendingAttestation):
            pending.append(attestation.uri)
    if not bitcoin:
        hint = f"; pending at {', '.join(sorted(pending))} (run `ots upgrade` online)" if pending else ""
        return Verdict(NETWORK, False, f"the proof has no Bitcoin attestation{hint}")
    try:
        return _check_attestations(anchor, sorted(bitcoin))
    except AnchorError as e:
        return Verdict.cannot_check(NETWORK, f"cannot check: {e}")


def _check_attestations(anchor: BitcoinAnchor, attestations: list[tuple[int, bytes]]) -> Verdict:
    chain = anchor.node().chain
    verified, failed = [], []
    for height, merkle_root in attestations:
        try:
            block_hash = anchor.rpc.call("getblockhash", height)
        except RpcError as e:
            if e.code != RPC_INVALID_PARAMETER:
                raise
            failed.append(f"the {chain} node has no block {height}")
            continue
        header = anchor.rpc.call("getblockheader", block_hash)
        if bytes.fromhex(header["merkleroot"])[::-1] != merkle_root:
            failed.append(f"block {height}'s merkle root differs from the proof's (another chain, or a reorg)")
        else:
            verified.append((height, block_hash, int(header["time"]), int(header["confirmations"])))
    if failed:
        return Verdict(NETWORK, False, "; ".join(failed))
    height, block_hash, time, confirmations = verified[0]  # the earliest attestation
    if confirmations < anchor.config.confirmations:
        return Verdict(NETWORK, False, f"{confirmations} confirmations, {anchor.config.confirmations} required", confirmations)
    detail = f"timestamped in block {height} ({block_hash}) on {chain} at unix time {time}, {confirmations} confirmations"
    return Verdict(NETWORK, True, detail, confirmations)


def proof_from_anchor(anchor: BitcoinAnchor, txid: str, digest: bytes) -> bytes:
    """The `.ots` proof that `digest` (a file's sha256) is in transaction `txid`'s block."""
    tx = anchor.rpc.call("getrawtransaction", txid, True)
    if not tx.get("blockhash") or not tx.get("confirmations"):
        raise AnchorError(f"transaction {txid} is not mined yet: a proof needs its block")
    block = CBlock.deserialize(bytes.fromhex(anchor.rpc.call("getblock", tx["blockhash"], 0)))
    height = anchor.rpc.call("getblockheader", tx["blockhash"])["height"]
    timestamp = make_timestamp_from_block(digest, block, height)
    if timestamp is None:
        raise FormatError(f"block {height}: no transaction of at most 1000 bytes contains the digest {digest.hex()}")
    ctx = BytesSerializationContext()
    DetachedTimestampFile(OpSHA256(), timestamp).serialize(ctx)
    return ctx.getbytes()
