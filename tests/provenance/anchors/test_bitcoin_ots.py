"""OpenTimestamps proofs against the real regtest chain: a proof built from the block that holds
our anchor of a file's sha256 verifies against the node's headers; the same proof for another
file, a proof pointing at the wrong block, one only pending at a calendar, and bytes that are no
proof at all do not."""

from __future__ import annotations

import hashlib

import pytest
from opentimestamps.core.notary import BitcoinBlockHeaderAttestation, PendingAttestation
from opentimestamps.core.op import OpSHA256
from opentimestamps.core.serialize import BytesSerializationContext
from opentimestamps.core.timestamp import DetachedTimestampFile, Timestamp

from provenance.anchors.bitcoin.ots import load_proof, proof_from_anchor, verify_ots
from provenance.errors import AnchorError, FormatError


def serialize(detached: DetachedTimestampFile) -> bytes:
    ctx = BytesSerializationContext()
    detached.serialize(ctx)
    return ctx.getbytes()


@pytest.fixture
def stamped(tmp_path, btc_anchor, bitcoin_node):
    """A record file, its sha256 anchored in a regtest transaction, mined, and its .ots proof."""
    record = tmp_path / "record.json"
    record.write_bytes(b'{"format": "provenance-record/v1", "run": "ots"}\n')
    digest = hashlib.sha256(record.read_bytes()).digest()
    receipt = btc_anchor.anchor(digest)
    with pytest.raises(AnchorError, match="is not mined yet"):
        proof_from_anchor(btc_anchor, receipt.location["txid"], digest)
    bitcoin_node.mine(1)
    return record, proof_from_anchor(btc_anchor, receipt.location["txid"], digest)


def test_proof_verifies_against_the_nodes_headers(stamped, btc_anchor, bitcoin_node):
    record, proof = stamped
    verdict = verify_ots(btc_anchor, proof, record)
    assert verdict.ok, verdict.detail
    height = bitcoin_node.rpc().call("getblockcount")
    assert verdict.detail.startswith(f"timestamped in block {height} (")
    assert verdict.confirmations == 1
    attestations = [a for _, a in load_proof(proof).timestamp.all_attestations()]
    assert attestations == [BitcoinBlockHeaderAttestation(height)]


def test_the_same_proof_with_another_file_is_rejected(stamped, btc_anchor, tmp_path):
    record, proof = stamped
    other = tmp_path / "other.json"
    other.write_bytes(record.read_bytes().replace(b"ots", b"oTs"))
    verdict = verify_ots(btc_anchor, proof, other)
    assert not verdict.ok
    assert verdict.detail.endswith("the proof is for another file")


def test_an_attestation_to_the_wrong_block_is_rejected(stamped, btc_anchor, bitcoin_node):
    record, proof = stamped
    detached = load_proof(proof)
    [(msg, attestation)] = list(detached.timestamp.all_attestations())
    # Re-point the attestation one block lower: the merkle root reached no longer matches.
    stamp = next(s for s in _walk(detached.timestamp) if attestation in s.attestations)
    stamp.attestations.remove(attestation)
    stamp.attestations.add(BitcoinBlockHeaderAttestation(attestation.height - 1))
    verdict = verify_ots(btc_anchor, serialize(detached), record)
    assert not verdict.ok and "merkle root differs" in verdict.detail
    stamp.attestations.clear()
    stamp.attestations.add(BitcoinBlockHeaderAttestation(10_000_000))
    assert "has no block 10000000" in verify_ots(btc_anchor, serialize(detached), record).detail


def test_pending_only_proof_is_not_a_pass(tmp_path, btc_anchor):
    record = tmp_path / "record.json"
    record.write_bytes(b"not yet in any block")
    timestamp = Timestamp(hashlib.sha256(record.read_bytes()).digest())
    timestamp.attestations.add(PendingAttestation("https://alice.btc.calendar.opentimestamps.org"))
    verdict = verify_ots(btc_anchor, serialize(DetachedTimestampFile(OpSHA256(), timestamp)), record)
    assert not verdict.ok
    assert verdict.detail == (
        "the proof has no Bitcoin attestation; pending at https://alice.btc.calendar.opentimestamps.org "
        "(run `ots upgrade` online)"
    )


def test_bytes_that_are_no_proof(tmp_path, btc_anchor):
    record = tmp_path / "record.json"
    record.write_bytes(b"x")
    with pytest.raises(FormatError, match=r"expected an OpenTimestamps proof \(.ots\), found bytes that do not parse"):
        verify_ots(btc_anchor, b"not a proof", record)


def _walk(timestamp: Timestamp):
    yield timestamp
    for child in timestamp.ops.values():
        yield from _walk(child)
