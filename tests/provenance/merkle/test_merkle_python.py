"""The pure-Python twin (provenance.merkle.pure) against the C extension it stands in for: each
function gives the same result, or raises the same exception with the same message, on valid and
malformed input; and `provenance` imports and builds the same trees (the C's, @openzeppelin/
merkle-tree's) where the C extension cannot be imported. The rest of the Merkle suite runs on both
backends through the `merkle_backend` fixture (tests/conftest.py)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from provenance.merkle import pure as twin
from provenance import merkle
from provenance.merkle import reference as ref
from provenance.merkle import Leaf
from tests.provenance.merkle.test_merkle_fast import awkward_leaves
from tests.support import oz

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def c():
    import provenance.merkle._merkle_native as native  # the C this test holds the twin to

    return native


def outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except Exception as e:  # noqa: BLE001 - compared between the two backends, whatever it is
        return type(e).__name__, str(e)


def assert_same(c, name: str, *args) -> None:
    native, python = outcome(getattr(c, name), *args), outcome(getattr(twin, name), *args)
    assert python == native, (name, args)


def columns(leaves: list[Leaf]) -> tuple[list[str], list[str], bytes, list[int]]:
    return [v.kind for v in leaves], [v.name for v in leaves], b"".join(v.digest for v in leaves), [v.size for v in leaves]


class SubStr(str):
    pass


class SubInt(int):
    pass


class SubDict(dict):
    pass


# ---- function by function ----


def test_leaf_hashes_same_bytes_and_same_errors(c):
    for n in (0, 1, 2, 9, 100):
        kinds, names, digests, sizes = columns(awkward_leaves(n, seed=n))
        assert_same(c, "leaf_hashes", kinds, names, digests, sizes, 2)
        assert_same(c, "leaf_hashes", tuple(kinds), names, [digests[i : i + 32] for i in range(0, len(digests), 32)], sizes, 1)
        assert_same(c, "leaf_hashes", "k", names, np.frombuffer(digests, np.uint8).reshape(n, 32), 7, 1)
        assert_same(c, "leaf_hashes", "k", names, bytearray(digests), 2**256 - 1, 1)
    d = bytes(32)
    bad = [
        ("", [], b"", [], 1),  # a shared kind is checked even with no values
        ("k", [], b"", True, 1),
        ("k", [], b"", -1, 1),
        ("k", ["a"], d, 2**256, 1),
        ("k", ["a"], d, SubInt(5), 1),
        (SubStr("k"), [SubStr("a")], d, [1], 1),
        (["k", ""], ["a", "b"], d * 2, [1, 2], 1),
        (["k", 5], ["a", "b"], d * 2, [1, 2], 1),
        (["k"], ["a", "b"], d * 2, [1, 2], 1),
        ("k", ["a", "b"], d * 2, [1], 1),
        ("k", ["a", "b"], d, [1, 2], 1),
        ("k", ["a", "b"], [d], [1, 2], 1),
        ("k", ["a", "b"], [d, d[:31]], [1, 2], 1),
        ("k", ["a", "b"], [d, "0x" + "00" * 32], [1, 2], 1),
        ("k", ["a", "b"], "ab", [1, 2], 1),
        ("k", ["a", 5], d * 2, [1, 2], 1),
        ("k", ["a", "\udc80"], d * 2, [1, 2], 1),
        ("\udc80", ["a"], d, [1], 1),
        ("k", ["a", "b" * 500], d * 2, [1, "2"], 1),  # the C's %.60R: a repr cut to 60 characters
        ("k", ["a"], d, [1.5], 1),
        ("k", ["a"], d, [-(2**70)], 1),
        ("k", ["x" * 200], d, ["y" * 200], 1),
        ("k", 5, d, [1], 1),
    ]
    for args in bad:
        assert_same(c, "leaf_hashes", *args)
        assert outcome(twin.leaf_hashes, *args)[0] in ("ok", "ValueError", "TypeError"), args


def test_build_tree_same_tree_and_order_with_duplicates(c):
    rng = random.Random(1)
    for n in (1, 2, 3, 7, 8, 9, 100, 257):
        hashes = [rng.randbytes(32) for _ in range(n)]
        hashes += [hashes[rng.randrange(n)] for _ in range(n // 3)]  # equal hashes keep value order
        hashes += [hashes[0][:8] + rng.randbytes(24) for _ in range(3)]  # equal first 8 bytes
        assert_same(c, "build_tree", b"".join(hashes), 2)
    for bad in (b"", bytes(31), bytes(33), "0" * 64):
        assert_same(c, "build_tree", bad, 1)


def built(n: int, seed: int = 3) -> tuple[bytes, bytes]:
    """A tree (flat bytes) and its leaf hashes in value order."""
    hashes = b"".join(ref.leaf_hash(v) for v in awkward_leaves(n, seed))
    return twin.build_tree(hashes, 1)[0], hashes


def test_tree_queries_agree(c):
    for n in (1, 2, 5, 33):
        tree, hashes = built(n)
        n_nodes = 2 * n - 1
        for t in (-1, 0, 1, n - 1, n_nodes - 1, n_nodes, np.int64(n_nodes - 1)):
            assert_same(c, "proof", tree, t)
        for indices in ([], [0], list(range(n_nodes)), [n_nodes - 1, 0, 0], [n_nodes], [-1]):
            assert_same(c, "nodes_at", tree, np.asarray(indices, dtype=np.int64))
        assert_same(c, "nodes_at", tree, bytes(7))
        nodes = [tree[i : i + 32] for i in range(0, len(tree), 32)]
        for h in (nodes[-1], nodes[n - 1], hashes[:32], bytes(32), b"\xff" * 32):
            assert_same(c, "equal_range", tree, n, h)
        assert_same(c, "equal_range", tree, n, bytes(31))
        assert_same(c, "equal_range", tree, n + 1, bytes(32))
        for size in (n, n + 1, 0):
            assert_same(c, "leaves_ascending", tree, size)
            assert_same(c, "first_bad_node", tree, size, 2)
    # duplicates: a range of equal leaves
    values = awkward_leaves(10, seed=4)
    values += [values[2]] * 3
    tree = twin.build_tree(b"".join(ref.leaf_hash(v) for v in values), 1)[0]
    assert_same(c, "equal_range", tree, len(values), ref.leaf_hash(values[2]))
    lo, hi = twin.equal_range(tree, len(values), ref.leaf_hash(values[2]))
    assert hi - lo == 4


def test_tree_checks_agree(c):
    n = 33
    tree, hashes = built(n)
    leaf_order = np.frombuffer(twin.build_tree(hashes, 1)[1], dtype=np.int64)
    indices = np.empty(n, dtype=np.int64)
    indices[leaf_order] = np.arange(2 * n - 2, n - 2, -1)
    assert_same(c, "check_leaves", tree, hashes, indices)
    for edit in ({0: 0}, {3: 2 * n - 1}, {3: -5}, {5: int(indices[6])}, {1: int(indices[2]), 2: int(indices[1])}):
        edited = indices.copy()
        for i, t in edit.items():
            edited[i] = t
        assert_same(c, "check_leaves", tree, hashes, edited)
    assert_same(c, "check_leaves", tree, hashes[:-32], indices[:-1])
    assert_same(c, "check_leaves", tree, hashes, indices[:-1])
    for node in (0, 5, n - 2, n - 1, 2 * n - 2):  # inner nodes, then leaves (the check covers inner ones)
        bad = bytearray(tree)
        bad[32 * node] ^= 1
        assert_same(c, "first_bad_node", bytes(bad), n, 2)
        assert_same(c, "leaves_ascending", bytes(bad), n)
    shuffled = b"".join(random.Random(5).sample([tree[i : i + 32] for i in range(0, len(tree), 32)], 2 * n - 1))
    assert_same(c, "leaves_ascending", shuffled, n)
    assert_same(c, "first_bad_node", shuffled, n, 1)


def test_dump_parsers_and_formatters_agree(c):
    tree = merkle.MerkleTree.of(awkward_leaves(40, seed=12))
    dump = json.loads(json.dumps(tree.dump()))
    nodes, entries = dump["tree"], dump["values"]
    assert_same(c, "parse_nodes", nodes)
    h = nodes[3]
    for bad in (h[2:], "0X" + h[2:], h[:-1], h + "0", h[:10] + "g" + h[11:], h[:10] + "é" + h[11:], SubStr(h), 7, None, b"0x00"):
        assert_same(c, "parse_nodes", nodes[:3] + [bad] + nodes[4:])
    assert_same(c, "parse_nodes", 5)
    assert_same(c, "parse_values", entries, True)
    assert_same(c, "parse_values", [e["value"] for e in entries], False)
    assert_same(c, "parse_values", entries, False)
    assert_same(c, "parse_values", [e["value"] for e in entries], True)
    value = entries[4]["value"]
    variants = [
        dict(entries[4], treeIndex=True), dict(entries[4], treeIndex=SubInt(50)), dict(entries[4], treeIndex=2**63),
        dict(entries[4], treeIndex=-(2**63)), dict(entries[4], treeIndex=-1), dict(entries[4], treeIndex="40"),
        dict(entries[4], extra=1), {"value": value}, {"value": value, "treeindex": 40}, SubDict(entries[4]), [value, 40],
        {"value": value[:3], "treeIndex": 40}, {"value": tuple(value), "treeIndex": 40},
    ]
    for kind in ("", 5, SubStr("k")):
        variants.append({"value": [kind, *value[1:]], "treeIndex": 40})
    for name in (5, SubStr("n"), "\udc80"):
        variants.append({"value": [value[0], name, *value[2:]], "treeIndex": 40})
    for size in ("", "-1", "٣", "1.5", " 1", "0" * 78, "9" * 78, "9" * 79, str(2**256), str(2**256 - 1), 2**256, 2**256 - 1,
                 -1, 7, True, 1.5, SubStr("7"), SubInt(7), "1" * 19, "1" * 20):  # fmt: skip
        variants.append({"value": [*value[:3], size], "treeIndex": 40})
    for digest in (value[2][2:], "0X" + value[2][2:], value[2].upper().replace("0X", "0x"), SubStr(value[2])):
        variants.append({"value": [value[0], value[1], digest, value[3]], "treeIndex": 40})
    for variant in variants:
        assert_same(c, "parse_values", entries[:4] + [variant] + entries[5:], True)
        assert_same(c, "parse_values", [variant["value"] if isinstance(variant, dict) and "value" in variant else variant], False)
    assert_same(c, "parse_values", 5, True)

    kinds, names, digests, sizes = columns(awkward_leaves(30, seed=6))
    indices = np.arange(29, 59, dtype=np.int64)
    for args in (
        (kinds, names, digests, sizes, indices), (kinds, names, digests, sizes, None),
        (kinds, names, digests, [SubInt(3)] * 30, None), (kinds[:-1], names, digests, sizes, None),
        (kinds, names, digests[:-1], sizes, None), (kinds, names, digests, sizes, indices[:-1]),
        ([], [], b"", [], None), ([], [], b"", [], np.zeros(0, dtype=np.int64)),
    ):  # fmt: skip
        assert_same(c, "format_values", *args)
    assert outcome(twin.format_values, tuple(kinds), names, digests, sizes, None)[0] == "TypeError"
    assert outcome(c.format_values, tuple(kinds), names, digests, sizes, None)[0] == "TypeError"
    for buffer in (digests, b"", bytes(33), bytearray(64), np.zeros((2, 32), dtype=np.uint8)):
        assert_same(c, "format_nodes", buffer)


def test_keccak_and_backend_names(c):
    rng = random.Random(7)
    for length in (0, 1, 135, 136, 137, 271, 272, 273, 5000):
        data = rng.randbytes(length)
        for form in (data, bytearray(data), memoryview(data), np.frombuffer(data, dtype=np.uint8)):
            assert_same(c, "keccak256", form)
    assert_same(c, "keccak256", "text")
    assert_same(c, "use_backend", "no-such-backend")
    assert twin.backends() == ["python"] and twin.use_backend("python") == "python"


# ---- provenance where the C extension cannot be imported ----

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoCompiledMerkle(importlib.abc.MetaPathFinder):
        # as on a machine without a C compiler: the extension was never built
        def find_spec(self, name, path=None, target=None):
            if name == "provenance.merkle._merkle_native":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoCompiledMerkle())
    """
)


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != merkle.BACKEND_ENV}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=120)


def test_provenance_without_the_c_extension_builds_the_same_tree_as_c_and_openzeppelin(c, monkeypatch):
    values = awkward_leaves(300, seed=21)
    code = BLOCKER + textwrap.dedent(
        """
        import json, logging
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s %(message)s")
        import provenance
        from provenance import merkle
        from provenance.merkle import Leaf, MerkleTree
        assert "provenance.merkle._merkle_native" not in sys.modules
        values = [Leaf.from_json(v) for v in json.loads(sys.stdin.read())]
        tree = MerkleTree.of(values)
        print(json.dumps({"backend": merkle.BACKEND, "module": merkle.native.__name__, "dump": tree.dump(),
                          "proof": ["0x" + p.hex() for p in tree.proof(7)]}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps([v.to_json() for v in values]), capture_output=True, text=True,
        cwd=ROOT, env={k: v for k, v in os.environ.items() if k != merkle.BACKEND_ENV}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert (got["backend"], got["module"]) == ("python", "provenance.merkle.pure")
    debug = [line for line in done.stderr.splitlines() if line.startswith("DEBUG provenance.merkle ")]
    assert len(debug) == 1 and "provenance.merkle._merkle_native not importable" in debug[0] and "pure-Python" in debug[0]

    monkeypatch.setattr(merkle.backend, "native", c)  # this process: the C
    native = merkle.MerkleTree.of(values)
    theirs = oz.build(values)
    assert got["dump"] == json.loads(json.dumps(native.dump()))
    assert got["dump"]["tree"][0] == "0x" + native.root.hex() == theirs["root"]
    assert got["dump"]["tree"] == theirs["dump"]["tree"] and got["dump"]["values"] == theirs["dump"]["values"]
    assert got["proof"] == theirs["proofs"][7]


def test_backend_variable_forces_or_requires_a_backend():
    show = "from provenance import merkle; print(merkle.BACKEND, merkle.native.__name__)"
    assert run_python(show).stdout.split() == ["native", "provenance.merkle._merkle_native"]
    assert run_python(show, {"PROVENANCE_MERKLE_BACKEND": "python"}).stdout.split() == ["python", "provenance.merkle.pure"]
    assert run_python(BLOCKER + show).stdout.split() == ["python", "provenance.merkle.pure"]

    required = run_python(BLOCKER + show, {"PROVENANCE_MERKLE_BACKEND": "native"})
    assert required.returncode != 0
    last = required.stderr.strip().splitlines()[-1]
    assert last.startswith("provenance.errors.BackendError: PROVENANCE_MERKLE_BACKEND=native: expected the C extension provenance.merkle._merkle_native, found none")
    assert "pip install -e ." in last

    wrong = run_python(show, {"PROVENANCE_MERKLE_BACKEND": "fast"})
    assert wrong.returncode != 0
    assert wrong.stderr.strip().splitlines()[-1] == (
        "provenance.errors.BackendError: PROVENANCE_MERKLE_BACKEND: expected 'native', 'python' or unset, found 'fast'"
    )
