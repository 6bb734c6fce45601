"""The pure-Python twin of `provenance.merkle._merkle_native`, for machines without a C compiler.

The same functions with the same arguments, results and errors as `provenance/merkle/_native/
merkle_native.c`, written plainly on top of `merkle.reference` (ABI encoding by eth-abi, keccak256
by eth-hash): the same bytes, 70 to 90 times slower (bench/merkle.py). `provenance.merkle` uses
it when the C extension cannot be imported, or when `PROVENANCE_MERKLE_BACKEND=python` asks for
it. `threads` arguments are accepted and ignored. Each docstring is the contract it shares with
the C function.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
from eth_hash.auto import keccak

from . import reference
from .reference import MAX_UINT256, Leaf

__all__ = [
    "backends", "build_tree", "check_leaves", "equal_range", "first_bad_node", "format_nodes", "format_values",
    "keccak256", "leaf_hashes", "leaves_ascending", "nodes_at", "parse_nodes", "parse_values", "proof", "use_backend",
]  # fmt: skip

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_ABSENT = object()


# ---- leaves ----


def _r60(value: Any) -> str:
    """`repr` cut to 60 characters, as the C's `%.60R` prints a value."""
    return repr(value)[:60]


def _buffer(obj: Any) -> bytes:
    """The bytes of a contiguous buffer (bytes, bytearray, memoryview, numpy array); TypeError for
    an object that is not a buffer, BufferError for one that is not contiguous (as the C's
    `PyBUF_SIMPLE` requests)."""
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not '{type(obj).__name__}'") from None
    if not view.c_contiguous:
        raise BufferError("expected a contiguous buffer, found a strided one")
    return view.tobytes()


def _tuple(seq: Any, what: str, n: int = -1) -> tuple:
    items = tuple(seq)
    if n >= 0 and len(items) != n:
        raise ValueError(f"{what}: expected {n} items, found {len(items)}")
    return items


def _read_str(s: Any, i: int, field: str, nonempty: bool) -> str:
    if not isinstance(s, str) or (nonempty and not s):
        raise ValueError(f"leaf {i}: expected a {'non-empty ' if nonempty else ''}string {field}, found {_r60(s)}")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"leaf {i}: {field} is not valid UTF-8 text (lone surrogate)") from None
    return s


def _read_size(v: Any, i: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_UINT256:
        raise ValueError(f"leaf {i}: expected a size in 0..2**256-1, found {_r60(v)}")
    return v


def leaf_hashes(kinds: Any, names: Any, digests: Any, sizes: Any, threads: int) -> bytes:
    """The OZ standard leaf hash of each (kind, name, digest, size), 32 bytes each, in input order.

    kinds: a str for all or a sequence of str; names: a sequence of str; digests: a buffer of
    32 * n bytes or a sequence of 32-byte bytes; sizes: an int for all or a sequence of ints. A
    ValueError names the first bad column or value, checked in the C's order."""
    operator.index(threads)
    names = _tuple(names, "names")
    n = len(names)
    kind_column = None if isinstance(kinds, str) else _tuple(kinds, "kinds", n)
    size_column = None if isinstance(sizes, int) else _tuple(sizes, "sizes", n)
    try:
        flat: bytes | None = _buffer(digests)
    except TypeError:
        flat, digest_column = None, _tuple(digests, "digests", n)
    else:
        if len(flat) != 32 * n:
            raise ValueError(f"digests: expected {32 * n} bytes, found {len(flat)}")
    # A kind or size shared by all values is checked once, as value 0, even when there are none.
    shared_kind = _read_str(kinds, 0, "kind", True) if kind_column is None else None
    shared_size = _read_size(sizes, 0) if size_column is None else None
    out = []
    for i in range(n):
        kind = shared_kind if kind_column is None else _read_str(kind_column[i], i, "kind", True)
        name = _read_str(names[i], i, "name", False)
        if flat is not None:
            digest = flat[32 * i : 32 * i + 32]
        else:
            digest = digest_column[i]
            if not isinstance(digest, bytes) or len(digest) != 32:
                raise ValueError(f"leaf {i}: expected a 32-byte digest, found {_r60(digest)}")
            digest = bytes(digest)
        size = shared_size if size_column is None else _read_size(size_column[i], i)
        out.append(reference.leaf_hash(Leaf(kind, name, digest, size)))
    return b"".join(out)


# ---- the tree ----


def _nodes(tree: bytes) -> list[bytes]:
    return [tree[i : i + 32] for i in range(0, len(tree) - len(tree) % 32, 32)]


def build_tree(leaf_hashes: Any, threads: int) -> tuple[bytes, bytes]:
    """OZ makeMerkleTree over the leaf hashes (32 bytes each, value order) sorted ascending: the
    flat node array, (2n - 1) * 32 bytes, root first, and n int64, the value index of each sorted
    position k (whose node is 2n - 2 - k). Equal hashes keep value order (a stable sort)."""
    operator.index(threads)
    data = _buffer(leaf_hashes)
    if len(data) % 32 or not data:
        raise ValueError(f"leaf hashes: expected a positive multiple of 32 bytes, found {len(data)}")
    hashes = _nodes(data)
    order = sorted(range(len(hashes)), key=hashes.__getitem__)  # Python's sort is stable
    tree = reference.make_tree([hashes[i] for i in order])
    return b"".join(tree), np.asarray(order, dtype=np.int64).tobytes()


def _check_tree(tree: bytes, n: int) -> None:
    if n < 1 or len(tree) != 32 * (2 * n - 1):
        raise ValueError(f"tree: expected {32 * (2 * n - 1)} bytes for {n} leaves, found {len(tree)}")


def first_bad_node(tree: Any, n_leaves: int, threads: int) -> int:
    """The smallest inner node index i whose node is not the hash of its sorted children, or -1."""
    operator.index(threads)
    tree, n = _buffer(tree), operator.index(n_leaves)
    _check_tree(tree, n)
    nodes = _nodes(tree)
    return next((i for i in range(n - 1) if nodes[i] != reference.hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])), -1)


def check_leaves(tree: Any, leaf_hashes: Any, tree_indices: Any) -> tuple[int, bool]:
    """For a dump's values (leaf hashes and tree indices as int64, in value order): the first value
    whose tree index is not a leaf position or whose node is not its hash (-1 if none), and whether
    the tree indices cover every leaf position exactly once."""
    tree, hashes, raw = _buffer(tree), _buffer(leaf_hashes), _buffer(tree_indices)
    n, n_nodes = len(hashes) // 32, len(tree) // 32
    if n < 1 or len(hashes) != 32 * n or len(raw) != 8 * n or len(tree) != 32 * (2 * n - 1):
        raise ValueError("check_leaves: expected a tree, n leaf hashes and n tree indices")
    seen: set[int] = set()
    for i, t in enumerate(np.frombuffer(raw, dtype=np.int64).tolist()):
        if not n - 1 <= t < n_nodes or tree[32 * t : 32 * t + 32] != hashes[32 * i : 32 * i + 32]:
            return i, False
        seen.add(t)
    return -1, len(seen) == n


def equal_range(tree: Any, n_leaves: int, hash: Any) -> tuple[int, int]:
    """The sorted positions k in [lo, hi) whose leaf node (2n - 2 - k) equals `hash`, for a tree
    whose leaves ascend with k."""
    tree, n, target = _buffer(tree), operator.index(n_leaves), _buffer(hash)
    if n < 1 or len(tree) != 32 * (2 * n - 1) or len(target) != 32:
        raise ValueError("equal_range: expected a tree of n leaves and a 32-byte hash")

    def leaf(k: int) -> bytes:
        return tree[32 * (2 * n - 2 - k) : 32 * (2 * n - 1 - k)]

    bounds = []
    for upper in (False, True):
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            node = leaf(mid)
            if node < target or (upper and node == target):
                lo = mid + 1
            else:
                hi = mid
        bounds.append(lo)
    return bounds[0], bounds[1]


def _node_list(tree: bytes, indices: list[int]) -> list[bytes]:
    n_nodes = len(tree) // 32
    out = []
    for i in indices:
        if not 0 <= i < n_nodes:
            raise IndexError(f"node {i} out of range: the tree has {n_nodes} nodes")
        out.append(tree[32 * i : 32 * i + 32])
    return out


def nodes_at(tree: Any, indices: Any) -> list[bytes]:
    """The 32-byte nodes of the flat tree at `indices` (a buffer of int64), as bytes objects."""
    tree, raw = _buffer(tree), _buffer(indices)
    if len(raw) % 8:
        raise ValueError("nodes_at: expected int64 indices")
    return _node_list(tree, np.frombuffer(raw, dtype=np.int64).tolist())


def proof(tree: Any, tree_index: int) -> list[bytes]:
    """OZ getProof: the siblings of the node at tree_index and of its ancestors, bottom up."""
    tree, t = _buffer(tree), operator.index(tree_index)
    if not 0 <= t < len(tree) // 32:
        raise IndexError(f"node {t} out of range: the tree has {len(tree) // 32} nodes")
    return _node_list(tree, reference.proof_path(t))


def leaves_ascending(tree: Any, n_leaves: int) -> bool:
    """Whether the leaf nodes ascend with the sorted position k (node 2n - 2 - k)."""
    tree, n = _buffer(tree), operator.index(n_leaves)
    if n < 1 or len(tree) != 32 * (2 * n - 1):
        raise ValueError("leaves_ascending: expected a tree of n leaves")
    leaves = _nodes(tree)[n - 1 :]  # nodes n - 1 .. 2n - 2: sorted positions n - 1 down to 0
    return all(a >= b for a, b in zip(leaves, leaves[1:]))


# ---- dumps: strict parsers (anything unusual is left to the reference code) and formatters ----


def _parse_hex32_strict(s: Any) -> bytes | None:
    """'0x' and 64 hex digits as 32 bytes; None for anything else (a str subclass included, as the
    C reads only plain ASCII str objects)."""
    if type(s) is not str or len(s) != 66 or not s.startswith("0x") or not _HEX_DIGITS.issuperset(s[2:]):
        return None
    return bytes.fromhex(s[2:])


def parse_nodes(nodes: Any) -> bytes | int:
    """The nodes ('0x' and 64 hex digits each) as 32 * n bytes, or the index of the first node that
    is not exactly in that form."""
    out = []
    for i, node in enumerate(_tuple(nodes, "nodes")):
        parsed = _parse_hex32_strict(node)
        if parsed is None:
            return i
        out.append(parsed)
    return b"".join(out)


def _parse_size_strict(v: Any) -> int | None:
    """A dump's size: a str of 1 to 78 ASCII digits or an int (not bool) within uint256; None
    for anything else."""
    if isinstance(v, str):
        if type(v) is not str or not 1 <= len(v) <= 78 or not v.isascii() or not v.isdigit():
            return None
        value = int(v)
    elif isinstance(v, int) and not isinstance(v, bool):
        value = v
    else:
        return None
    return value if 0 <= value <= MAX_UINT256 else None


def parse_values(entries: Any, with_tree_index: Any) -> tuple[list, list, bytes, list, bytes] | int:
    """The columns of a list of values [kind, name, digest, size], or with `with_tree_index` of a
    tree dump's {'value': [...], 'treeIndex': t}: kinds and names as lists of str, digests as
    32 * n bytes, sizes as a list of int, tree indices as n int64 (zeros without them); or the
    index of the first entry not strictly in that form (non-empty kind, digest '0x' and 64 hex
    digits, size decimal digits or int, t an int)."""
    kinds, names, digests, sizes, indices = [], [], [], [], []
    for i, entry in enumerate(_tuple(entries, "values")):
        value, t = entry, 0
        if with_tree_index:
            # dict's own methods, as the C reads a dict subclass's items
            if not isinstance(entry, dict) or dict.__len__(entry) != 2:
                return i
            value, t = dict.get(entry, "value", _ABSENT), dict.get(entry, "treeIndex", _ABSENT)
            if value is _ABSENT or t is _ABSENT:
                return i
        if not isinstance(value, list) or len(value) != 4 or type(t) is not int:
            return i
        kind, name, digest_text, size_value = value
        if not isinstance(kind, str) or not kind or not isinstance(name, str):
            return i
        digest = _parse_hex32_strict(digest_text)
        if digest is None or not -(2**63) <= t < 2**63:
            return i
        size = _parse_size_strict(size_value)
        if size is None:
            return i
        kinds.append(kind)
        names.append(name)
        digests.append(digest)
        sizes.append(size)
        indices.append(t)
    return kinds, names, b"".join(digests), sizes, np.asarray(indices, dtype=np.int64).tobytes()


def format_nodes(nodes: Any) -> list[str]:
    """Each 32 bytes of the buffer as '0x' and 64 lowercase hex digits (a dump's nodes)."""
    data = _buffer(nodes)
    if len(data) % 32:
        raise ValueError("nodes: expected a multiple of 32 bytes")
    return ["0x" + node.hex() for node in _nodes(data)]


def format_values(kinds: list, names: list, digests: Any, sizes: list, tree_indices: Any) -> list:
    """The values as a dump stores them, [kind, name, '0x' digest, decimal size] each, wrapped in
    {'value': [...], 'treeIndex': t} when tree_indices (n int64) is not None."""
    for column in (kinds, names, sizes):
        if not isinstance(column, list):
            raise TypeError(f"format_values: expected lists, found {type(column).__name__}")
    data, n = _buffer(digests), len(names)
    if len(kinds) != n or len(sizes) != n or len(data) != 32 * n:
        raise ValueError("format_values: expected columns of the same length")
    values = [[k, nm, "0x" + data[32 * i : 32 * i + 32].hex(), str(s)] for i, (k, nm, s) in enumerate(zip(kinds, names, sizes))]
    if tree_indices is None:
        return values
    raw = _buffer(tree_indices)
    if len(raw) != 8 * n:
        raise ValueError(f"tree indices: expected {8 * n} bytes, found {len(raw)}")
    return [{"value": v, "treeIndex": t} for v, t in zip(values, np.frombuffer(raw, dtype=np.int64).tolist())]


# ---- keccak itself ----


def keccak256(data: Any) -> bytes:
    """Ethereum's keccak256 of one message."""
    return keccak(_buffer(data))


def backends() -> list[str]:
    """The keccak backends this module runs: one, eth-hash's."""
    return ["python"]


def use_backend(name: Any) -> str:
    """Use the named keccak backend from now on; returns the previous one's name (always 'python')."""
    if not isinstance(name, str):
        raise TypeError(f"keccak backend: expected a str, found {type(name).__name__}")
    if name != "python":
        raise ValueError(f"keccak backend: expected one of this CPU's backends, found {name!r}")
    return "python"
