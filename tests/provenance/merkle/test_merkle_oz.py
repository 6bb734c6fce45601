"""provenance-merkle/v1 against the real @openzeppelin/merkle-tree: same roots, proofs and
multiproofs, and each side verifies the other's proofs; on the C extension and on its pure-Python
twin (`merkle_backend`, tests/conftest.py; the twin builds the largest trees only with
--merkle-backend=python)."""

from __future__ import annotations

import json
import random

import pytest

from provenance.errors import MerkleError
from provenance.merkle import FORMAT, Leaf, MerkleTree, MultiProof, verify, verify_multiproof
from tests.support import oz

pytestmark = pytest.mark.usefixtures("merkle_backend")

HEAVY = pytest.mark.merkle_heavy
SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 33, 64, 100, 255, 256, 257, pytest.param(1000, marks=HEAVY), pytest.param(2000, marks=HEAVY)]


def random_leaves(n: int, seed: int) -> list[Leaf]:
    rng = random.Random(seed)
    kinds = ["data.sample", "model.param", "config", "code.file", "chain.prev"]
    return [
        Leaf(rng.choice(kinds), f"item/{rng.randrange(10**6):06d}/é", rng.randbytes(32), rng.randrange(2**rng.choice([8, 64, 256])))
        for _ in range(n)
    ]


def hexes(nodes) -> list[str]:
    return ["0x" + n.hex() for n in nodes]


@pytest.mark.parametrize("n", SIZES)
def test_same_tree_proofs_and_multiproofs_as_openzeppelin(n):
    values = random_leaves(n, seed=n)
    rng = random.Random(n + 1)
    index_sets = [sorted(rng.sample(range(n), k)) for k in {1, min(n, 3), min(n, 50), n} if k <= n]
    ours = MerkleTree.of(values)
    theirs = oz.build(values, index_sets)

    assert "0x" + ours.root.hex() == theirs["root"]
    assert ours.dump()["tree"] == theirs["dump"]["tree"]
    assert ours.dump()["values"] == theirs["dump"]["values"]
    assert [hexes(ours.proof(i)) for i in range(n)] == theirs["proofs"]
    for indices, expected in zip(index_sets, theirs["multiproofs"]):
        mp = ours.multiproof(indices)
        assert hexes(mp.proof) == expected["proof"]
        assert list(mp.proof_flags) == expected["proofFlags"]
        assert [v.to_json() for v in mp.leaves] == expected["leaves"]


@pytest.mark.parametrize("n", [1, 2, 13, 256, pytest.param(1000, marks=HEAVY)])
def test_each_side_verifies_the_others_proofs(n):
    values = random_leaves(n, seed=1000 + n)
    ours = MerkleTree.of(values)
    theirs = oz.build(values, [list(range(0, n, 3))])
    # OZ's proofs verify with our verifier ...
    for i, proof in enumerate(theirs["proofs"]):
        assert verify(ours.root, values[i], [bytes.fromhex(p[2:]) for p in proof])
    m = theirs["multiproofs"][0]
    theirs_mp = MultiProof(
        tuple(Leaf.from_json(v) for v in m["leaves"]), tuple(bytes.fromhex(p[2:]) for p in m["proof"]), tuple(m["proofFlags"])
    )
    assert verify_multiproof(ours.root, theirs_mp)
    # ... and ours with OZ's, including a wrong leaf that both must reject.
    items = [(values[i], ours.proof(i)) for i in range(n)]
    wrong = Leaf(values[0].kind, values[0].name, values[0].digest, values[0].size + 1)
    verdicts = oz.verify(ours.root, items + [(wrong, ours.proof(0))], [ours.multiproof(list(range(0, n, 3)))])
    assert verdicts["proofs"] == [True] * n + [False]
    assert verdicts["multiproofs"] == [True]
    assert not verify(ours.root, wrong, ours.proof(0))


def test_duplicate_values_match_openzeppelin():
    base = random_leaves(5, seed=7)
    values = base + [base[1], base[3], base[1]]
    ours, theirs = MerkleTree.of(values), oz.build(values)
    assert "0x" + ours.root.hex() == theirs["root"]
    assert [hexes(ours.proof(i)) for i in range(len(values))] == theirs["proofs"]
    assert ours.dump()["values"] == theirs["dump"]["values"]


def test_single_leaf_tree_root_is_the_leaf_hash():
    values = random_leaves(1, seed=3)
    tree = MerkleTree.of(values)
    assert tree.proof(0) == []
    assert "0x" + tree.root.hex() == oz.build(values)["root"]


def test_empty_tree_is_rejected():
    with pytest.raises(MerkleError, match="zero leaves"):
        MerkleTree.of([])


def test_dump_roundtrip_and_validation():
    tree = MerkleTree.of(random_leaves(20, seed=5))
    data = json.loads(json.dumps(tree.dump()))
    assert data["format"] == FORMAT
    again = MerkleTree.load(data)
    assert again.root == tree.root and again.values == tree.values


def test_multiproof_of_duplicated_index_is_rejected():
    tree = MerkleTree.of(random_leaves(8, seed=9))
    with pytest.raises(MerkleError, match="same leaf twice"):
        tree.multiproof([2, 2])
