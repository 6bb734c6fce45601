"""Bad input to the Merkle module: each a one-line FormatError/MerkleError naming the problem, on
the C extension and on its pure-Python twin (`merkle_backend`, tests/conftest.py)."""

from __future__ import annotations

import copy
import json

import pytest

from provenance.errors import FormatError, MerkleError
from provenance.merkle import Leaf, MerkleTree, load_dump_file, process_multiproof, process_proof, verify

pytestmark = pytest.mark.usefixtures("merkle_backend")

GOOD = MerkleTree.of([Leaf("data.sample", f"train/{i}", bytes([i]) * 32, i) for i in range(1, 6)]).dump()


def edited(**changes):
    data = copy.deepcopy(GOOD)
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "data, message",
    [
        (edited(format="standard-v1"), "expected format 'provenance-merkle/v1', found 'standard-v1'"),
        (edited(format="provenance-merkle/v2"), "expected format 'provenance-merkle/v1'"),
        (edited(leafEncoding=["string", "bytes32"]), "expected leafEncoding"),
        (edited(tree=GOOD["tree"][:-1]), "expected 9 nodes for 5 values, found 8"),
        (edited(tree=["0x1234"] + GOOD["tree"][1:]), "tree node 0: expected 64 hex characters"),
        (edited(tree=["0x" + "zz" * 32] + GOOD["tree"][1:]), "tree node 0: expected hex"),
        (edited(tree=["0x" + "00" * 32] + GOOD["tree"][1:]), "node 0 is not the hash of its children"),
        (edited(values=[{"value": ["data.sample", "x"], "treeIndex": 4}] + GOOD["values"][1:]), "expected [kind, name, digest, size]"),
        (edited(values=[{"value": GOOD["values"][0]["value"], "treeIndex": 0}] + GOOD["values"][1:]), "is not a leaf position"),
        ([1, 2, 3], "expected a JSON object, found list"),
        (edited(tree=[], values=[]), "expected non-empty 'tree' and 'values'"),
    ],
)
def test_malformed_dump(data, message):
    with pytest.raises(FormatError) as info:
        MerkleTree.load(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_edited_leaf_value_is_caught():
    data = copy.deepcopy(GOOD)
    data["values"][2]["value"][3] = "999"
    with pytest.raises(FormatError, match="does not hash to tree node"):
        MerkleTree.load(data)


def test_dump_file_with_invalid_json(tmp_path):
    path = tmp_path / "tree.json"
    path.write_text('{"format": "provenance-merkle/v1", ')
    with pytest.raises(FormatError, match="invalid JSON"):
        load_dump_file(str(path))
    path.write_text(json.dumps(GOOD))
    assert load_dump_file(str(path)).root.hex() == GOOD["tree"][0][2:]


@pytest.mark.parametrize("digest, found", [(b"\x01" * 31, "31 bytes"), (b"\x01" * 33, "33 bytes"), ("0x" + "01" * 32, "str")])
def test_digest_must_be_32_bytes(digest, found):
    with pytest.raises(FormatError, match=f"expected a 32-byte digest, found {found}"):
        Leaf("model.param", "fc1.weight", digest, 1)


@pytest.mark.parametrize("size", [-1, 2**256, 1.5, True])
def test_size_must_be_uint256(size):
    with pytest.raises(FormatError, match="expected a size in 0..2"):
        Leaf("model.param", "fc1.weight", bytes(32), size)


def test_proof_of_wrong_length_does_not_verify():
    tree = MerkleTree.of([Leaf("data.sample", f"train/{i}", bytes([i]) * 32, i) for i in range(1, 9)])
    proof = tree.proof(3)
    assert verify(tree.root, tree.values[3], proof)
    assert not verify(tree.root, tree.values[3], proof[:-1])
    assert not verify(tree.root, tree.values[3], proof + [proof[0]])


def test_proof_node_of_wrong_size():
    with pytest.raises(FormatError, match="proof node: expected 32 bytes"):
        process_proof(bytes(32), [b"\x00" * 31])


def test_inconsistent_multiproof():
    with pytest.raises(FormatError, match="expected leaves \\+ proof = flags \\+ 1"):
        process_multiproof([bytes(32)] * 2, [bytes(32)], [True, True, True])


def test_absent_leaf_and_bad_index():
    tree = MerkleTree.of([Leaf("data.sample", "a", bytes(32), 0), Leaf("data.sample", "b", bytes(32), 0)])
    with pytest.raises(MerkleError, match="leaf data.sample:c is not in this tree"):
        tree.proof(Leaf("data.sample", "c", bytes(32), 0))
    with pytest.raises(MerkleError, match="leaf index 2 out of range"):
        tree.proof(2)
    with pytest.raises(MerkleError, match="expected one leaf data.sample:zzz in the tree, found none"):
        tree.find("data.sample", "zzz")
