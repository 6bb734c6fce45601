"""The fast Merkle path (provenance.merkle, C under provenance/merkle/_native) against the readable
reference (provenance.merkle.reference) and the real @openzeppelin/merkle-tree: same roots,
nodes, proofs, multiproofs, dumps and errors, for every keccak backend this CPU runs, one and two
threads, awkward values (unicode, long names, huge sizes, duplicates) and sharded builds. Every
test runs on the C and on its pure-Python twin (`merkle_backend`, tests/conftest.py); those marked
`merkle_heavy` on the twin only with --merkle-backend=python."""

from __future__ import annotations

import copy
import functools
import json
import os
import random
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from eth_hash.auto import keccak

from provenance import merkle
from provenance.merkle import reference as ref
from provenance.errors import FormatError, MerkleError
from provenance.merkle import Leaf, LeafShard, MerkleTree, verify, verify_multiproof
from tests.support import oz

pytestmark = pytest.mark.usefixtures("merkle_backend")
# Powers of two and their neighbours, odd counts, and sizes where the C code changes its split:
# several threads per level from 8,192 nodes, batches of 8 and 4 leaves.
SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025]


def awkward_leaves(n: int, seed: int) -> list[Leaf]:
    """Values that stress the ABI encoding: unicode, names on and across 32-byte word and
    136-byte block boundaries (and past the 8-block batches), empty names, sizes up to
    2**256 - 1, and duplicated values."""
    rng = random.Random(seed)
    kinds = ["data.sample", "model.param", "k", "ç" * 40, "config"]
    pieces = ["a", "é", "日本", "🙂", "/", "\x00"]

    def name() -> str:
        length = rng.choice([0, 1, 31, 32, 33, 63, 64, 65, 100, 137, 300, 1100, rng.randrange(200)])
        text = "".join(rng.choice(pieces) for _ in range(length))
        return text

    def size() -> int:
        return rng.choice([0, 1, 2**64 - 1, 2**64, 2**255, 2**256 - 1, rng.randrange(2 ** rng.choice([8, 64, 128, 256]))])

    leaves = [Leaf(rng.choice(kinds), name(), rng.randbytes(32), size()) for _ in range(n)]
    for _ in range(n // 10):  # duplicates, also of neighbours in value order
        leaves[rng.randrange(n)] = leaves[rng.randrange(n)]
    return leaves


def simple_columns(n: int, seed: int) -> tuple[list[str], bytes, list[int]]:
    rng = np.random.default_rng(seed)
    names = [f"train/{i:07d}" for i in range(n)]
    return names, rng.integers(0, 256, size=(n, 32), dtype=np.uint8).tobytes(), rng.integers(0, 2**40, size=n).tolist()


@functools.lru_cache(maxsize=None)
def reference_tree(n: int, seed: int) -> ref.MerkleTree:
    return ref.MerkleTree.of(awkward_leaves(n, seed))


def assert_same_tree(fast: MerkleTree, slow: ref.MerkleTree, multiproof_sets=()) -> None:
    assert fast.root == slow.root
    assert fast.nodes == slow.nodes
    assert fast.dump() == slow.dump()
    assert len(fast) == len(slow) and fast.values == slow.values
    for i in range(len(slow)):
        assert fast.proof(i) == slow.proof(i)
    for indices in multiproof_sets:
        assert fast.multiproof(indices) == slow.multiproof(indices)


@pytest.mark.every_keccak_backend
def test_keccak256_matches_eth_hash_on_every_length_near_block_edges(merkle_backend):
    rng = random.Random(0)
    for length in [*range(0, 300), 407, 408, 409, 1087, 1088, 1089, 5000]:
        data = rng.randbytes(length)
        assert merkle_backend.keccak256(data) == keccak(data), length


@pytest.mark.every_keccak_backend
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", SIZES)
def test_same_tree_as_reference(threads, n):
    values = awkward_leaves(n, seed=n)
    rng = random.Random(n)
    sets = [rng.sample(range(n), k) for k in {1, min(n, 3), n // 2, n} if k]
    assert_same_tree(MerkleTree.of(values, threads=threads), reference_tree(n, n), sets)


@pytest.mark.every_keccak_backend
@pytest.mark.merkle_heavy
def test_large_tree_split_over_threads_matches_reference():
    # 20,000 leaves: leaf hashing and the deepest levels are split between threads.
    values = awkward_leaves(20_000, seed=11)
    fast, slow = MerkleTree.of(values, threads=2), reference_tree(20_000, 11)
    assert fast.root == slow.root and fast.nodes == slow.nodes
    for i in random.Random(1).sample(range(len(values)), 200):
        assert fast.proof(i) == slow.proof(i)
        assert fast.index_of(values[i]) == slow.index_of(values[i])


def test_awkward_values_match_openzeppelin():
    values = awkward_leaves(300, seed=5)
    index_sets = [sorted(random.Random(2).sample(range(300), 40)), list(range(300))]
    ours, theirs = MerkleTree.of(values), oz.build(values, index_sets)
    assert "0x" + ours.root.hex() == theirs["root"]
    assert ours.dump()["tree"] == theirs["dump"]["tree"]
    assert ours.dump()["values"] == theirs["dump"]["values"]
    assert [["0x" + p.hex() for p in ours.proof(i)] for i in range(300)] == theirs["proofs"]
    for indices, expected in zip(index_sets, theirs["multiproofs"]):
        mp = ours.multiproof(indices)
        assert ["0x" + p.hex() for p in mp.proof] == expected["proof"]
        assert list(mp.proof_flags) == expected["proofFlags"]
        assert [v.to_json() for v in mp.leaves] == expected["leaves"]


@pytest.mark.merkle_heavy
def test_10k_leaves_from_columns_match_openzeppelin():
    names, digests, sizes = simple_columns(10_000, seed=3)
    ours = MerkleTree.from_columns("data.sample", names, digests, sizes)
    values = ours.values
    theirs = oz.build(values)
    assert "0x" + ours.root.hex() == theirs["root"]
    assert ours.dump()["values"] == theirs["dump"]["values"]
    assert [["0x" + p.hex() for p in ours.proof(i)] for i in range(0, 10_000, 97)] == theirs["proofs"][::97]


def test_from_columns_accepts_lists_arrays_and_broadcasts():
    names, digests, sizes = simple_columns(257, seed=4)
    leaves = [Leaf("data.sample", nm, digests[32 * i : 32 * i + 32], sizes[i]) for i, nm in enumerate(names)]
    expected = MerkleTree.of(leaves)
    variants = [
        ("data.sample", names, digests, sizes),
        (["data.sample"] * 257, np.array(names), np.frombuffer(digests, np.uint8).reshape(257, 32), np.array(sizes)),
        ("data.sample", tuple(names), [v.digest for v in leaves], sizes),
    ]
    for kinds, nms, dg, sz in variants:
        tree = MerkleTree.from_columns(kinds, nms, dg, sz)
        assert tree.root == expected.root and tree.dump() == expected.dump()
    same_size = MerkleTree.from_columns("data.sample", names, digests, 7)
    assert same_size.root == MerkleTree.of(Leaf(v.kind, v.name, v.digest, 7) for v in leaves).root


@pytest.mark.parametrize(
    "columns, message",
    [
        (("", ["a"], bytes(32), [1]), "leaf 0: expected a non-empty string kind, found ''"),
        (("k", ["a", 5], bytes(64), [1, 2]), "leaf 1: expected a string name, found 5"),
        (("k", ["a", "b"], bytes(63), [1, 2]), "digests: expected 64 bytes (32 per name), found 63"),
        (("k", ["a", "b"], [bytes(32), bytes(31)], [1, 2]), "leaf 1: expected a 32-byte digest, found b'"),
        (("k", ["a", "b"], bytes(64), [1, -2]), "leaf 1: expected a size in 0..2**256-1, found -2"),
        (("k", ["a"], bytes(32), [2**256]), "leaf 0: expected a size in 0..2**256-1, found 1157920892"),
        (("k", ["a"], bytes(32), [True]), "leaf 0: expected a size in 0..2**256-1, found True"),
        (("k", ["a"], bytes(32), ["1"]), "leaf 0: expected a size in 0..2**256-1, found '1'"),
        (("k", ["\udc80"], bytes(32), [1]), "leaf 0: name is not valid UTF-8 text"),
        (("k", ["a", "b"], bytes(64), [1]), "sizes: expected 2, one per name, found 1"),
        ((["k"], ["a", "b"], bytes(64), 1), "kinds: expected 2, one per name, found 1"),
    ],
)
def test_from_columns_bad_input(columns, message):
    with pytest.raises(FormatError) as info:
        MerkleTree.from_columns(*columns)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_empty_inputs_are_rejected():
    for build in (lambda: MerkleTree.of([]), lambda: MerkleTree.from_columns("k", [], b"", []), lambda: MerkleTree.from_shards([])):
        with pytest.raises(MerkleError, match="zero leaves"):
            build()


def test_lookups_with_duplicates_match_reference():
    base = awkward_leaves(50, seed=8)
    values = base + [base[3], base[10], base[3], base[49]]
    fast, slow = MerkleTree.of(values), ref.MerkleTree.of(values)
    for v in values:
        assert fast.index_of(v) == slow.index_of(v)
        assert fast.proof(v) == slow.proof(v)
    assert fast.multiproof([base[3], base[7]]) == slow.multiproof([base[3], base[7]])
    unique = next(v for v in base if values.count(v) == 1)
    assert fast.find(unique.kind, unique.name) == unique
    with pytest.raises(MerkleError, match="found 3"):
        fast.find(base[3].kind, base[3].name)
    with pytest.raises(MerkleError, match="is not in this tree"):
        fast.index_of(Leaf("absent", "x", bytes(32), 0))


def test_verify_functions_accept_fast_proofs_and_reject_wrong_ones():
    values = awkward_leaves(100, seed=9)
    tree = MerkleTree.of(values)
    for i in range(0, 100, 7):
        assert verify(tree.root, values[i], tree.proof(i)) and ref.verify(tree.root, values[i], tree.proof(i))
    mp = tree.multiproof(list(range(0, 100, 3)))
    assert verify_multiproof(tree.root, mp) and ref.verify_multiproof(tree.root, mp)
    wrong = Leaf(values[1].kind, values[1].name, values[1].digest, (values[1].size + 1) % 2**256)
    assert not verify(tree.root, wrong, tree.proof(1))
    assert merkle.leaf_hash(values[1]) == ref.leaf_hash(values[1])
    assert merkle.leaf_hashes(values) == [ref.leaf_hash(v) for v in values]


# ---- dumps: the fast loader accepts exactly what the reference accepts, with its messages ----


def dump_of(n: int = 40, seed: int = 12) -> dict:
    return json.loads(json.dumps(MerkleTree.of(awkward_leaves(n, seed)).dump()))


def test_load_roundtrip_matches_reference():
    data = dump_of()
    fast, slow = MerkleTree.load(data), ref.MerkleTree.load(data)
    assert_same_tree(fast, slow, [[0, 5, 9]])


def _edit(path, value):
    def apply(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value(target[path[-1]]) if callable(value) else value
    return apply


def _swap_leaf_positions(data):
    a, b = data["values"][0], data["values"][1]
    a["treeIndex"], b["treeIndex"] = b["treeIndex"], a["treeIndex"]


EDITS = {
    "leaf size edited": _edit(["values", 7, "value", 3], "999"),
    "leaf name edited": _edit(["values", 3, "value", 1], "other"),
    "digest edited": _edit(["values", 0, "value", 2], "0x" + "ab" * 32),
    "inner node edited": _edit(["tree", 5], "0x" + "00" * 32),
    "leaf node edited": _edit(["tree", 60], "0x" + "11" * 32),
    "treeIndex not a leaf": _edit(["values", 2, "treeIndex"], 0),
    "treeIndex past the end": _edit(["values", 2, "treeIndex"], 10**30),
    "treeIndex repeated": lambda d: d["values"][1].__setitem__("treeIndex", d["values"][0]["treeIndex"]),
    "leaves swapped": _swap_leaf_positions,
    "treeIndex bool": _edit(["values", 4, "treeIndex"], True),
    "treeIndex str": _edit(["values", 4, "treeIndex"], "40"),
    "size negative": _edit(["values", 4, "value", 3], "-1"),
    "size too large": _edit(["values", 4, "value", 3], str(2**256)),
    "size unicode digit": _edit(["values", 4, "value", 3], "٣"),
    "size empty": _edit(["values", 4, "value", 3], ""),
    "size as int": _edit(["values", 4, "value", 3], lambda s: int(s)),
    "size float": _edit(["values", 4, "value", 3], 1.5),
    "kind empty": _edit(["values", 4, "value", 0], ""),
    "name not str": _edit(["values", 4, "value", 1], 5),
    "value too short": _edit(["values", 4, "value"], ["k", "n", "0x" + "00" * 32]),
    "entry extra key": _edit(["values", 4], lambda e: dict(e, extra=1)),
    "entry not a dict": _edit(["values", 4], [1, 2]),
    "digest short": _edit(["values", 4, "value", 2], "0x1234"),
    "digest bare hex": _edit(["values", 4, "value", 2], lambda h: h[2:]),
    "digest upper 0X": _edit(["values", 4, "value", 2], lambda h: "0X" + h[2:].upper()),
    "node bare hex": _edit(["tree", 3], lambda h: h[2:]),
    "node not hex": _edit(["tree", 3], "0x" + "zz" * 32),
    "node with spaces": _edit(["tree", 3], lambda h: h[:10] + " " + h[11:]),
    "node int": _edit(["tree", 3], 7),
    "surrogate in name": _edit(["values", 4, "value", 1], "\udc80"),
    "format": _edit(["format"], "standard-v1"),
    "too few nodes": _edit(["tree"], lambda t: t[:-1]),
}


def _outcome(load, data):
    try:
        tree = load(data)
    except Exception as e:  # noqa: BLE001 - compared with the reference's outcome, whatever it is
        return type(e).__name__, str(e)
    return "ok", (tree.root, tree.nodes, tree.values, [tree.proof(i) for i in range(len(tree))])


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_load_agrees_with_reference_on_edited_dump(edit):
    data = dump_of()
    EDITS[edit](data)
    fast = _outcome(MerkleTree.load, copy.deepcopy(data))
    assert fast == _outcome(ref.MerkleTree.load, copy.deepcopy(data))
    if fast[0] != "ok":
        assert "\n" not in fast[1]


@pytest.mark.merkle_heavy
def test_load_reports_the_first_bad_node_of_a_large_tree():
    # 20,000 leaves: the nodes are checked in blocks on several threads; the error must still
    # name the first bad node in index order, as the reference's loop would.
    names, digests, sizes = simple_columns(20_000, seed=19)
    data = MerkleTree.from_columns("data.sample", names, digests, sizes).dump()
    for i in (17_000, 9_000):
        data["tree"][i] = "0x" + "00" * 32
    nodes = [bytes.fromhex(h[2:]) for h in data["tree"]]
    first = next(i for i in range(19_999) if nodes[i] != ref.hash_pair(nodes[2 * i + 1], nodes[2 * i + 2]))
    with pytest.raises(FormatError, match=f"node {first} is not the hash of its children"):
        MerkleTree.load(data, threads=2)


def test_tree_with_unsorted_leaves_loads_and_proves_like_reference():
    # A valid dump need not have its leaves sorted (OZ's sortLeaves: false): lookups must not
    # assume it.
    values = awkward_leaves(21, seed=13) + awkward_leaves(3, seed=13)[:2]
    hashes = [ref.leaf_hash(v) for v in values]
    tree = ref.make_tree(hashes)
    data = {
        "format": merkle.FORMAT,
        "leafEncoding": list(merkle.LEAF_ENCODING),
        "tree": ["0x" + h.hex() for h in tree],
        "values": [{"value": v.to_json(), "treeIndex": len(tree) - 1 - i} for i, v in enumerate(values)],
    }
    fast, slow = MerkleTree.load(data), ref.MerkleTree.load(data)
    assert fast.nodes == slow.nodes
    for v in values:
        assert fast.index_of(v) == slow.index_of(v) and fast.proof(v) == slow.proof(v)
    assert fast.multiproof(values[:5]) == slow.multiproof(values[:5])


# ---- shards: hashed apart, one tree ----


def _hash_shard(args) -> tuple[int, LeafShard]:
    kinds, names, digests, sizes, start = args
    return os.getpid(), LeafShard.from_columns(kinds, names, digests, sizes, start, threads=1)


def test_shards_hashed_in_other_processes_give_the_one_shot_tree():
    names, digests, sizes = simple_columns(5_000, seed=6)
    whole = MerkleTree.from_columns("data.sample", names, digests, sizes)
    cuts = [0, 1, 1_700, 1_701, 4_096, 5_000]  # uneven, one of a single value
    jobs = [("data.sample", names[a:b], digests[32 * a : 32 * b], sizes[a:b], a) for a, b in zip(cuts, cuts[1:])]
    with ProcessPoolExecutor(2) as pool:
        pids, shards = zip(*pool.map(_hash_shard, jobs))
    assert os.getpid() not in pids  # hashed elsewhere, came back pickled
    shards = list(shards)
    random.Random(0).shuffle(shards)
    tree = MerkleTree.from_shards(shards)
    assert tree.root == whole.root and tree.nodes == whole.nodes and tree.dump() == whole.dump()
    assert tree.proof(4_321) == whole.proof(4_321)


def test_shards_of_leaf_objects_and_awkward_values():
    values = awkward_leaves(700, seed=14)
    shards = [LeafShard.of(values[:300]), LeafShard.of(values[300:], start=300)]
    assert MerkleTree.from_shards(shards).dump() == ref.MerkleTree.of(values).dump()


def test_shards_must_cover_the_values_once_in_order():
    values = awkward_leaves(30, seed=15)
    a, b, c = LeafShard.of(values[:10]), LeafShard.of(values[10:20], 10), LeafShard.of(values[20:], 20)
    with pytest.raises(MerkleError, match="expected a shard starting at value 10, found one at 20"):
        MerkleTree.from_shards([a, c])
    with pytest.raises(MerkleError, match="expected a shard starting at value 20, found one at 10"):
        MerkleTree.from_shards([a, b, b, c])
    assert MerkleTree.from_shards([c, a, b]).root == MerkleTree.of(values).root


def test_shard_dump_roundtrip_and_tampering():
    values = awkward_leaves(50, seed=16)
    shard = LeafShard.of(values[25:], start=25)
    data = json.loads(json.dumps(shard.dump()))
    again = LeafShard.load(data)
    assert again.start == 25 and again.hashes == shard.hashes
    assert MerkleTree.from_shards([LeafShard.of(values[:25]), again]).root == MerkleTree.of(values).root
    tampered = copy.deepcopy(data)
    tampered["values"][3][3] = str(int(tampered["values"][3][3]) + 1 if tampered["values"][3][3] != str(2**256 - 1) else 0)
    with pytest.raises(FormatError, match=r"\(value 28\) does not match its leaf hash"):
        LeafShard.load(tampered)
    with pytest.raises(FormatError, match="expected format 'provenance-merkle-shard/v1'"):
        LeafShard.load(dict(data, format="provenance-merkle/v1"))
    with pytest.raises(FormatError, match="expected 'values' and 'leafHashes' lists of the same length"):
        LeafShard.load(dict(data, leafHashes=data["leafHashes"][:-1]))
    with pytest.raises(FormatError, match="expected 'start', a value index >= 0, found -1"):
        LeafShard.load(dict(data, start=-1))
    with pytest.raises(FormatError, match="expected \\[kind, name, digest, size\\]"):
        LeafShard.load(dict(data, values=[["k"]] + data["values"][1:]))


# ---- on-chain: the real compiled contract checks fast-path proofs ----


@pytest.mark.merkle_heavy
def test_fast_proofs_verify_on_chain(eth_anchor):
    values = awkward_leaves(2_049, seed=17)
    tree = MerkleTree.of(values)
    eth_anchor.anchor(tree.root)
    for i in random.Random(3).sample(range(len(values)), 12):
        leaf, proof = values[i], tree.proof(i)
        # the contract ABI-encodes and hashes the leaf itself: unicode, long names, huge sizes
        assert eth_anchor.onchain_leaf_hash(leaf) == merkle.leaf_hash(leaf)
        assert eth_anchor.verify_inclusion(tree.root, proof, leaf)
        assert eth_anchor.verify_leaf_inclusion(tree.root, proof, leaf)
    mp = tree.multiproof(random.Random(4).sample(range(len(values)), 60))
    assert eth_anchor.verify_multi_inclusion(tree.root, mp)
    assert not eth_anchor.verify_inclusion(tree.root, tree.proof(0), values[1] if values[1] != values[0] else values[2])


@pytest.mark.merkle_heavy
def test_tree_from_shards_verifies_on_chain(eth_anchor):
    names, digests, sizes = simple_columns(3_000, seed=18)
    shards = [LeafShard.from_columns("data.sample", names[a:b], digests[32 * a : 32 * b], sizes[a:b], a) for a, b in [(0, 1_234), (1_234, 3_000)]]
    tree = MerkleTree.from_shards(shards)
    eth_anchor.anchor(tree.root)
    leaf = tree.values[2_999]
    assert eth_anchor.verify_leaf_inclusion(tree.root, tree.proof(2_999), leaf)
