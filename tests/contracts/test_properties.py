"""Property tests of the on-chain proof checks (hypothesis, through Ape, on the real contract):
random trees, random proofs, random tampering. The contract must agree with the reference
implementation on every input, and never accept a proof that does not hash to the root."""

from __future__ import annotations

import ape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.merkle import Leaf, MerkleTree, leaf_hash, process_multiproof, process_proof
from provenance.errors import FormatError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

leaves_st = st.lists(
    st.builds(
        Leaf,
        kind=st.sampled_from(["data.sample", "model.param", "config"]),
        name=st.text(min_size=0, max_size=40),
        digest=st.binary(min_size=32, max_size=32),
        size=st.integers(min_value=0, max_value=2**256 - 1),
    ),
    min_size=1,
    max_size=40,
)


def ensure_anchored(registry, owner, root: bytes) -> None:
    if not registry.anchorOf(owner, root)[0]:
        registry.anchor(root, bytes(32), bytes(32), sender=owner)


def flip(node: bytes, bit: int) -> bytes:
    return node[: bit // 8] + bytes([node[bit // 8] ^ (1 << (bit % 8))]) + node[bit // 8 + 1 :]


@st.composite
def tampered_proof(draw, proof: list[bytes]) -> list[bytes]:
    mode = draw(st.sampled_from(["none", "flip", "drop", "extra", "swap", "replace"]))
    proof = list(proof)
    if mode == "flip" and proof:
        i = draw(st.integers(0, len(proof) - 1))
        proof[i] = flip(proof[i], draw(st.integers(0, 255)))
    elif mode == "drop" and proof:
        del proof[draw(st.integers(0, len(proof) - 1))]
    elif mode == "extra":
        proof.insert(draw(st.integers(0, len(proof))), draw(st.binary(min_size=32, max_size=32)))
    elif mode == "swap" and len(proof) > 1:
        i, j = draw(st.lists(st.integers(0, len(proof) - 1), min_size=2, max_size=2, unique=True))
        proof[i], proof[j] = proof[j], proof[i]
    elif mode == "replace" and proof:
        proof[draw(st.integers(0, len(proof) - 1))] = draw(st.binary(min_size=32, max_size=32))
    return proof


@SETTINGS
@given(data=st.data(), values=leaves_st)
def test_verify_inclusion_agrees_with_reference(registry, owner, data, values):
    tree = MerkleTree.of(values)
    ensure_anchored(registry, owner, tree.root)
    index = data.draw(st.integers(0, len(values) - 1))
    leaf = values[index]
    if data.draw(st.booleans()):
        leaf = Leaf(leaf.kind, leaf.name, flip(leaf.digest, data.draw(st.integers(0, 255))), leaf.size)
    proof = data.draw(tampered_proof(tree.proof(index)))
    truth = process_proof(leaf_hash(leaf), proof) == tree.root
    assert registry.verifyInclusion(owner, tree.root, proof, leaf_hash(leaf)) == truth
    assert registry.verifyLeafInclusion(owner, tree.root, proof, leaf.kind, leaf.name, leaf.digest, leaf.size) == truth
    if truth:  # the same valid proof against an unanchored root must be refused
        other = flip(tree.root, 0)
        assert not registry.verifyInclusion(owner, other, proof, leaf_hash(leaf))


@SETTINGS
@given(data=st.data(), values=leaves_st)
def test_multiproof_never_gives_a_false_positive(registry, owner, data, values):
    tree = MerkleTree.of(values)
    ensure_anchored(registry, owner, tree.root)
    indices = data.draw(st.lists(st.integers(0, len(values) - 1), min_size=1, max_size=len(values), unique=True))
    distinct = {leaf_hash(values[i]): i for i in indices}  # a multiproof cannot prove one leaf hash twice
    mp = tree.multiproof(list(distinct.values()))
    leaves = [leaf_hash(v) for v in mp.leaves]
    proof, flags = list(mp.proof), list(mp.proof_flags)
    mode = data.draw(st.sampled_from(["none", "leaf", "proof", "flag", "order"]))
    if mode == "leaf":
        i = data.draw(st.integers(0, len(leaves) - 1))
        leaves[i] = flip(leaves[i], data.draw(st.integers(0, 255)))
    elif mode == "proof" and proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        proof[i] = flip(proof[i], data.draw(st.integers(0, 255)))
    elif mode == "flag" and flags:
        i = data.draw(st.integers(0, len(flags) - 1))
        flags[i] = not flags[i]
    elif mode == "order" and len(leaves) > 1:
        leaves = leaves[::-1]
    try:
        truth = process_multiproof(leaves, proof, flags) == tree.root
    except (FormatError, IndexError):
        truth = None  # malformed: the contract must not say true
    try:
        on_chain = registry.verifyMultiInclusion(owner, tree.root, proof, flags, leaves)
    except ape.exceptions.ContractLogicError:
        on_chain = None  # reverted on a malformed multiproof
    if truth is None:
        assert on_chain in (None, False)
    else:
        assert on_chain == truth
    if mode == "none":
        assert on_chain is True


@SETTINGS
@given(roots=st.lists(st.binary(min_size=32, max_size=32).filter(any), min_size=1, max_size=5, unique=True))
def test_each_anchor_emits_one_event_and_fills_one_slot(registry, owner, chain, roots):
    for root in roots:
        if registry.anchorOf(owner, root)[0]:
            continue
        tx = registry.anchor(root, bytes(32), root, sender=owner)
        events = tx.decode_logs(registry.RootAnchored)
        assert [(e.root, e.recordDigest, e.submitter) for e in events] == [(root, root, owner.address)]
        anchored, timestamp, block, revoked = registry.anchorOf(owner, root)
        assert (anchored, block, revoked) == (True, tx.block_number, False)
        assert timestamp == chain.provider.get_block(tx.block_number).timestamp
