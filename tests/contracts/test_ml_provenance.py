"""MLProvenance on a real EVM (Ape's test network, and anvil with --network ethereum:local:foundry)."""

from __future__ import annotations

import os

import ape
import pytest

from provenance.merkle import Leaf, MerkleTree, leaf_hash

ZERO = bytes(32)


def leaves(n: int, kind: str = "data.sample") -> list[Leaf]:
    rng = __import__("random").Random(n)
    return [Leaf(kind, f"train/{i:06d}", rng.randbytes(32), rng.randrange(10_000)) for i in range(n)]


@pytest.fixture
def tree() -> MerkleTree:
    return MerkleTree.of(leaves(37))


def test_anchor_stores_packed_info_and_emits_event(registry, trainer, tree, chain):
    record_digest = os.urandom(32)
    tx = registry.anchor(tree.root, ZERO, record_digest, sender=trainer)

    events = tx.decode_logs(registry.RootAnchored)
    assert len(events) == 1
    assert events[0].root == tree.root
    assert events[0].submitter == trainer.address
    assert events[0].prevRoot == ZERO
    assert events[0].recordDigest == record_digest
    block = chain.provider.get_block(tx.block_number)
    assert registry.anchorOf(trainer, tree.root) == (True, block.timestamp, tx.block_number, False)
    # the original registry's reads see it too, with the anchoring block's time and no metadata
    assert registry.verifyHash(tree.root)
    assert registry.getHashInfo(tree.root) == (True, block.timestamp, "")
    assert tx.decode_logs(registry.HashStored) == []


def test_anchor_writes_one_storage_slot(registry, trainer, tree, chain):
    tx = registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    # the first anchor of a root: mapping slot 0 keyed by the root alone,
    # keccak256(root . uint256(0)); the struct lives entirely in that slot (submitter, then
    # timestamp, then block number, then the revoked flag).
    from eth_utils import keccak

    slot = int.from_bytes(keccak(tree.root + bytes(32)), "big")
    word = chain.provider.web3.eth.get_storage_at(registry.address, slot)
    next_word = chain.provider.web3.eth.get_storage_at(registry.address, slot + 1)
    value = int.from_bytes(word, "big")
    assert value & (2**160 - 1) == int(trainer.address, 16)
    assert (value >> 160) & (2**40 - 1) == chain.provider.get_block(tx.block_number).timestamp
    assert (value >> 200) & (2**40 - 1) == tx.block_number
    assert value >> 240 == 0  # not revoked
    assert next_word == bytes(32)


def test_unanchored_root_is_unknown(registry, tree):
    assert not registry.verifyHash(tree.root)
    assert registry.getHashInfo(tree.root) == (False, 0, "")
    assert registry.anchorOf("0x0000000000000000000000000000000000000000", tree.root) == (False, 0, 0, False)


def test_duplicate_root_by_the_same_submitter_reverts(registry, trainer, tree):
    tx = registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    with ape.reverts(registry.AlreadyAnchored, submitter=trainer.address, root=tree.root):
        registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    # the first anchor is untouched
    assert registry.anchorOf(trainer, tree.root)[2] == tx.block_number


def test_zero_root_reverts(registry, trainer):
    with ape.reverts(registry.ZeroRoot):
        registry.anchor(ZERO, ZERO, ZERO, sender=trainer)


def test_chained_anchor_records_prev_root(registry, trainer):
    first, second = MerkleTree.of(leaves(3)), MerkleTree.of(leaves(4))
    registry.anchor(first.root, ZERO, ZERO, sender=trainer)
    tx = registry.anchor(second.root, first.root, ZERO, sender=trainer)
    assert tx.decode_logs(registry.RootAnchored)[0].prevRoot == first.root


def test_verify_inclusion_valid_tampered_and_unanchored(registry, trainer, tree):
    leaf = tree.values[5]
    proof = tree.proof(5)
    assert not registry.verifyInclusion(trainer, tree.root, proof, leaf_hash(leaf)), "unanchored root must not verify"
    registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    assert registry.verifyInclusion(trainer, tree.root, proof, leaf_hash(leaf))
    tampered = [proof[0][:-1] + bytes([proof[0][-1] ^ 1])] + proof[1:]
    assert not registry.verifyInclusion(trainer, tree.root, tampered, leaf_hash(leaf))
    assert not registry.verifyInclusion(trainer, tree.root, proof[:-1], leaf_hash(leaf))
    assert not registry.verifyInclusion(trainer, tree.root, proof, leaf_hash(tree.values[6]))


def test_on_chain_leaf_hash_equals_python(registry):
    for leaf in leaves(5) + [Leaf("chain.prev", "pre", bytes(range(32)), 0), Leaf("model.param", "ü/ñ", b"\xff" * 32, 2**256 - 1)]:
        assert registry.leafHash(leaf.kind, leaf.name, leaf.digest, leaf.size) == leaf_hash(leaf)


def test_verify_leaf_inclusion_computes_leaf_on_chain(registry, trainer, tree):
    registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    leaf = tree.values[11]
    assert registry.verifyLeafInclusion(trainer, tree.root, tree.proof(11), leaf.kind, leaf.name, leaf.digest, leaf.size)
    assert not registry.verifyLeafInclusion(trainer, tree.root, tree.proof(11), leaf.kind, leaf.name, leaf.digest, leaf.size + 1)
    assert not registry.verifyLeafInclusion(trainer, tree.root, tree.proof(11), leaf.kind, "train/999999", leaf.digest, leaf.size)


def test_single_leaf_tree_has_empty_proof(registry, trainer):
    single = MerkleTree.of(leaves(1))
    registry.anchor(single.root, ZERO, ZERO, sender=trainer)
    assert single.proof(0) == []
    assert registry.verifyInclusion(trainer, single.root, [], leaf_hash(single.values[0]))


def test_multiproof(registry, trainer, tree):
    registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    mp = tree.multiproof([0, 3, 17, 36])
    hashes = [leaf_hash(v) for v in mp.leaves]
    assert registry.verifyMultiInclusion(trainer, tree.root, list(mp.proof), list(mp.proof_flags), hashes)
    assert not registry.verifyMultiInclusion(trainer, tree.root, list(mp.proof), list(mp.proof_flags), hashes[::-1])
    other = MerkleTree.of(leaves(5))
    assert not registry.verifyMultiInclusion(trainer, other.root, list(mp.proof), list(mp.proof_flags), hashes)


def test_malformed_multiproof_reverts(registry, trainer, tree):
    registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    mp = tree.multiproof([0, 3])
    with ape.reverts(registry.MerkleProofInvalidMultiproof):
        registry.verifyMultiInclusion(trainer, tree.root, list(mp.proof), list(mp.proof_flags) + [True], [leaf_hash(v) for v in mp.leaves])
