"""Anchors belong to (submitter, root): coexistence, front-running, revocation, the scoped
inclusion checks and the nested (run -> shard -> sample) check, on the real contract.
Property tests (hypothesis) show one submitter's actions never change another's anchor."""

from __future__ import annotations

import os
import random

import ape
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.merkle import Leaf, MerkleTree, leaf_hash

ZERO = bytes(32)
NOBODY = "0x0000000000000000000000000000000000000000"


def leaves(n: int, seed: int = 0, kind: str = "data.sample") -> list[Leaf]:
    rng = random.Random(seed)
    return [Leaf(kind, f"train/{i:06d}", rng.randbytes(32), rng.randrange(10_000)) for i in range(n)]


@pytest.fixture
def tree() -> MerkleTree:
    return MerkleTree.of(leaves(21))


# ---------------------------------------------------------------- coexistence and front-running


def test_identical_roots_from_different_accounts_coexist(registry, trainer, stranger, tree):
    first = registry.anchor(tree.root, ZERO, b"\x01" * 32, sender=trainer)
    second = registry.anchor(tree.root, ZERO, b"\x02" * 32, sender=stranger)
    mine, theirs = registry.anchorOf(trainer, tree.root), registry.anchorOf(stranger, tree.root)
    assert (mine[0], mine[2], mine[3]) == (True, first.block_number, False)
    assert (theirs[0], theirs[2], theirs[3]) == (True, second.block_number, False)
    assert first.decode_logs(registry.RootAnchored)[0].recordDigest == b"\x01" * 32
    assert second.decode_logs(registry.RootAnchored)[0].submitter == stranger.address
    assert second.decode_logs(registry.RootAnchored)[0].recordDigest == b"\x02" * 32


def test_front_run_by_a_stranger_changes_nothing_for_the_trainer(registry, trainer, stranger, tree, chain):
    # the stranger copies the trainer's root (mempool, record) and anchors it first with junk
    junk = os.urandom(32)
    registry.anchor(tree.root, junk, junk, sender=stranger)
    assert registry.anchorOf(trainer, tree.root) == (False, 0, 0, False)
    assert not registry.verifyInclusion(trainer, tree.root, tree.proof(0), leaf_hash(tree.values[0]))
    # the trainer's own anchor still goes through, with the trainer's own values
    digest = os.urandom(32)
    tx = registry.anchor(tree.root, ZERO, digest, sender=trainer)
    event = tx.decode_logs(registry.RootAnchored)[0]
    assert (event.submitter, event.prevRoot, event.recordDigest) == (trainer.address, ZERO, digest)
    assert registry.anchorOf(trainer, tree.root) == (True, chain.provider.get_block(tx.block_number).timestamp, tx.block_number, False)
    assert registry.verifyInclusion(trainer, tree.root, tree.proof(0), leaf_hash(tree.values[0]))
    # and the stranger's revocation of its own copy touches only its own
    registry.revoke(tree.root, "junk", sender=stranger)
    assert registry.verifyInclusion(trainer, tree.root, tree.proof(0), leaf_hash(tree.values[0]))


def test_another_account_anchoring_after_never_alters_the_first(registry, trainer, stranger, tree):
    tx = registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    before = registry.anchorOf(trainer, tree.root)
    registry.anchor(tree.root, os.urandom(32), os.urandom(32), sender=stranger)
    assert registry.anchorOf(trainer, tree.root) == before
    assert before[2] == tx.block_number


# ---------------------------------------------------------------- revocation


def test_revoke_own_anchor_emits_event_and_turns_scoped_checks_false(registry, trainer, tree):
    registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    leaf, proof = tree.values[3], tree.proof(3)
    mp = tree.multiproof([1, 2, 5])
    mp_leaves = [leaf_hash(v) for v in mp.leaves]
    assert registry.verifyInclusion(trainer, tree.root, proof, leaf_hash(leaf))
    assert registry.verifyMultiInclusion(trainer, tree.root, list(mp.proof), list(mp.proof_flags), mp_leaves)
    anchored = registry.anchorOf(trainer, tree.root)

    tx = registry.revoke(tree.root, "key leaked", sender=trainer)

    events = tx.decode_logs(registry.AnchorRevoked)
    assert [(e.root, e.submitter, e.reason) for e in events] == [(tree.root, trainer.address, "key leaked")]
    assert registry.anchorOf(trainer, tree.root) == anchored[:3] + (True,)
    assert not registry.verifyInclusion(trainer, tree.root, proof, leaf_hash(leaf))
    assert not registry.verifyLeafInclusion(trainer, tree.root, proof, leaf.kind, leaf.name, leaf.digest, leaf.size)
    assert not registry.verifyMultiInclusion(trainer, tree.root, list(mp.proof), list(mp.proof_flags), mp_leaves)


def test_only_the_submitter_can_revoke(registry, trainer, stranger, tree):
    registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    with ape.reverts(registry.NotAnchored, submitter=stranger.address, root=tree.root):
        registry.revoke(tree.root, "not mine", sender=stranger)
    assert registry.anchorOf(trainer, tree.root)[3] is False


def test_double_revoke_reverts_and_revoked_root_cannot_be_reanchored(registry, trainer, tree):
    registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    registry.revoke(tree.root, "withdrawn", sender=trainer)
    with ape.reverts(registry.AlreadyRevoked, submitter=trainer.address, root=tree.root):
        registry.revoke(tree.root, "again", sender=trainer)
    with ape.reverts(registry.AlreadyAnchored, submitter=trainer.address, root=tree.root):
        registry.anchor(tree.root, ZERO, ZERO, sender=trainer)


def test_revoke_unanchored_root_reverts(registry, trainer, tree):
    with ape.reverts(registry.NotAnchored, submitter=trainer.address, root=tree.root):
        registry.revoke(tree.root, "never anchored", sender=trainer)


# ---------------------------------------------------------------- scoped inclusion variants


def test_scoped_checks_need_the_named_submitter(registry, trainer, stranger, owner, tree):
    registry.anchor(tree.root, ZERO, ZERO, sender=trainer)
    leaf, proof = tree.values[7], tree.proof(7)
    mp = tree.multiproof([0, 7])
    mp_leaves = [leaf_hash(v) for v in mp.leaves]
    assert registry.verifyInclusion(trainer, tree.root, proof, leaf_hash(leaf))
    assert registry.verifyLeafInclusion(trainer, tree.root, proof, leaf.kind, leaf.name, leaf.digest, leaf.size)
    assert registry.verifyMultiInclusion(trainer, tree.root, list(mp.proof), list(mp.proof_flags), mp_leaves)
    for other in (stranger.address, owner.address, NOBODY):
        assert not registry.verifyInclusion(other, tree.root, proof, leaf_hash(leaf))
        assert not registry.verifyLeafInclusion(other, tree.root, proof, leaf.kind, leaf.name, leaf.digest, leaf.size)
        assert not registry.verifyMultiInclusion(other, tree.root, list(mp.proof), list(mp.proof_flags), mp_leaves)


# ---------------------------------------------------------------- nested inclusion


@pytest.fixture
def nested():
    """A run tree of 5 `data.shard` leaves, each the root of a tree of its samples."""
    shards = [MerkleTree.of(leaves(3 + k, seed=100 + k)) for k in range(5)]
    shard_leaves = [Leaf("data.shard", f"shard-{k:03d}", s.root, len(s)) for k, s in enumerate(shards)]
    run = MerkleTree.of(shard_leaves + [Leaf("config", "config.json", os.urandom(32), 10)])
    return run, shards, shard_leaves


def nested_args(run, shards, shard_leaves, k: int, i: int):
    shard_leaf = shard_leaves[k]
    sample = shards[k].values[i]
    return (
        run.proof(shard_leaf),
        (shard_leaf.name, shard_leaf.digest, shard_leaf.size),
        shards[k].proof(i),
        (sample.kind, sample.name, sample.digest, sample.size),
    )


def test_nested_inclusion_valid_for_every_sample(registry, trainer, nested):
    run, shards, shard_leaves = nested
    registry.anchor(run.root, ZERO, ZERO, sender=trainer)
    for k, shard in enumerate(shards):
        for i in range(len(shard)):
            assert registry.verifyNestedInclusion(trainer, run.root, *nested_args(run, shards, shard_leaves, k, i))


def test_nested_inclusion_invalid_at_each_level(registry, trainer, stranger, nested):
    run, shards, shard_leaves = nested
    registry.anchor(run.root, ZERO, ZERO, sender=trainer)
    shard_proof, shard, sample_proof, sample = nested_args(run, shards, shard_leaves, 2, 1)
    assert registry.verifyNestedInclusion(trainer, run.root, shard_proof, shard, sample_proof, sample)
    bad = [
        # sample level: changed digest, size, name, kind, tampered or foreign sample proof
        (shard_proof, shard, sample_proof, (sample[0], sample[1], os.urandom(32), sample[3])),
        (shard_proof, shard, sample_proof, (sample[0], sample[1], sample[2], sample[3] + 1)),
        (shard_proof, shard, sample_proof, (sample[0], "train/999999", sample[2], sample[3])),
        (shard_proof, shard, sample_proof, ("model.param", sample[1], sample[2], sample[3])),
        (shard_proof, shard, [os.urandom(32)] + list(sample_proof[1:]), sample),
        (shard_proof, shard, shards[2].proof(0), sample),
        # shard level: the sample moved to another shard's root, changed count or name, bad proof
        (shard_proof, (shard[0], shards[3].root, shard[2]), sample_proof, sample),
        (shard_proof, (shard[0], shard[1], shard[2] + 1), sample_proof, sample),
        (shard_proof, ("shard-999", shard[1], shard[2]), sample_proof, sample),
        (list(shard_proof[:-1]), shard, sample_proof, sample),
        (run.proof(shard_leaves[3]), shard, sample_proof, sample),
    ]
    for args in bad:
        assert not registry.verifyNestedInclusion(trainer, run.root, *args), args
    # the right proofs under another submitter, or under the shard root itself as "run root"
    assert not registry.verifyNestedInclusion(stranger, run.root, shard_proof, shard, sample_proof, sample)
    registry.anchor(shards[2].root, ZERO, ZERO, sender=trainer)
    assert not registry.verifyNestedInclusion(trainer, shards[2].root, shard_proof, shard, sample_proof, sample)


def test_nested_inclusion_unanchored_or_revoked_run_root(registry, trainer, stranger, nested):
    run, shards, shard_leaves = nested
    args = nested_args(run, shards, shard_leaves, 0, 2)
    assert not registry.verifyNestedInclusion(trainer, run.root, *args), "unanchored"
    registry.anchor(run.root, ZERO, ZERO, sender=stranger)
    assert not registry.verifyNestedInclusion(trainer, run.root, *args), "anchored by someone else only"
    registry.anchor(run.root, ZERO, ZERO, sender=trainer)
    assert registry.verifyNestedInclusion(trainer, run.root, *args)
    registry.revoke(run.root, "withdrawn", sender=trainer)
    assert not registry.verifyNestedInclusion(trainer, run.root, *args), "revoked"
    assert registry.verifyNestedInclusion(stranger, run.root, *args), "the stranger's own anchor is still live"


def test_shard_leaf_hash_is_the_standard_leaf_of_data_shard(registry, nested):
    run, shards, shard_leaves = nested
    s = shard_leaves[1]
    assert registry.leafHash("data.shard", s.name, s.digest, s.size) == leaf_hash(s)


# ---------------------------------------------------------------- properties

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

actions_st = st.lists(
    st.tuples(st.sampled_from(["anchor", "revoke"]), st.integers(0, 2), st.integers(0, 2)),
    min_size=1,
    max_size=12,
)


@SETTINGS
@given(actions=actions_st)
def test_each_submitters_anchor_depends_only_on_its_own_actions(registry, accounts, actions):
    """Replay random anchor/revoke actions by three accounts on three fresh roots: after every
    step each (account, root) anchor equals a model that sees only that account's own actions,
    and the scoped check is true exactly for live anchors."""
    actors = [accounts[1], accounts[2], accounts[3]]
    trees = [MerkleTree.of(leaves(2, seed=int.from_bytes(os.urandom(4), "big"))) for _ in range(3)]
    model: dict[tuple[int, int], dict] = {}
    for action, who, which in actions:
        actor, root = actors[who], trees[which].root
        state = model.get((who, which))
        if action == "anchor":
            if state is not None:
                with ape.reverts(registry.AlreadyAnchored, submitter=actor.address, root=root):
                    registry.anchor(root, ZERO, ZERO, sender=actor)
            else:
                tx = registry.anchor(root, ZERO, ZERO, sender=actor)
                model[(who, which)] = {"block": tx.block_number, "revoked": False}
        else:
            if state is None:
                with ape.reverts(registry.NotAnchored, submitter=actor.address, root=root):
                    registry.revoke(root, "r", sender=actor)
            elif state["revoked"]:
                with ape.reverts(registry.AlreadyRevoked, submitter=actor.address, root=root):
                    registry.revoke(root, "r", sender=actor)
            else:
                registry.revoke(root, "r", sender=actor)
                state["revoked"] = True
        for w, a in enumerate(actors):
            for t, tree in enumerate(trees):
                anchored, _, block, revoked = registry.anchorOf(a, tree.root)
                expected = model.get((w, t))
                if expected is None:
                    assert (anchored, block, revoked) == (False, 0, False)
                else:
                    assert (anchored, block, revoked) == (True, expected["block"], expected["revoked"])
                live = expected is not None and not expected["revoked"]
                assert registry.verifyInclusion(a, tree.root, tree.proof(0), leaf_hash(tree.values[0])) == live


@SETTINGS
@given(roots=st.lists(st.binary(min_size=32, max_size=32).filter(any), min_size=1, max_size=4, unique=True),
       order=st.permutations([1, 2, 3]))
def test_anchor_order_between_accounts_never_matters(registry, accounts, roots, order):
    """Whoever anchors a root first, every account's own anchor of it goes through and is
    read back as its own block."""
    salt = os.urandom(32)  # examples share the chain: fresh roots for each
    for given_root in roots:
        root = bytes(x ^ y for x, y in zip(given_root, salt))
        blocks = {}
        for i in order:
            tx = registry.anchor(root, ZERO, ZERO, sender=accounts[i])
            blocks[i] = tx.block_number
        for i in order:
            assert registry.anchorOf(accounts[i], root)[:3:2] == (True, blocks[i])
