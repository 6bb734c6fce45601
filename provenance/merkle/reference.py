"""`provenance-merkle/v1`, the readable specification: trees byte-compatible with OpenZeppelin's
StandardMerkleTree, written for clarity, not speed.

Production code uses `provenance.merkle`, which computes the same trees in bulk (C, several
threads, several hashes per instruction) and is tested against this module and against
`@openzeppelin/merkle-tree`. This module also holds what both share: the `Leaf` and `MultiProof`
values, the dump's header and per-value checks, and the proof paths.

A leaf is the tuple `(string kind, string name, bytes32 digest, uint256 size)`:

- leaf hash: `keccak256(keccak256(abi.encode(kind, name, digest, size)))` (OZ standard leaf);
- inner node: `keccak256` of the two children in ascending byte order (OZ commutative hash);
- shape: OZ's `makeMerkleTree` over the leaf hashes sorted ascending (a stable sort: equal hashes
  keep the order of their values), stored as a flat array `tree` of `2n - 1` nodes where node `i`
  has children `2i + 1` and `2i + 2` and the root is `tree[0]`; leaf `k` of the sorted order sits
  at `tree[len(tree) - 1 - k]`;
- proofs and multiproofs are exactly those of `@openzeppelin/merkle-tree`, so they verify with
  `MerkleProof.sol` and with that library.

Nested trees (a dataset cut into shards, `provenance.digests.shards`): each shard is a standard tree of
its samples' leaves, and the run's tree holds one leaf `("data.shard", shard id, shard root,
sample count)` per shard. A sample's proof is two standard proofs: the sample leaf's proof to
the shard root, then the shard leaf's proof to the run root (`verify_nested`; on-chain
`MLProvenance.verifyNestedInclusion`). Each level is an ordinary tree, so each verifies alone
with `@openzeppelin/merkle-tree`; the shard leaf's digest is what ties the two together.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from .kinds import DATA_SHARD as SHARD_KIND
from ..errors import FormatError, MerkleError

FORMAT = "provenance-merkle/v1"
LEAF_ENCODING = ("string", "string", "bytes32", "uint256")
MAX_UINT256 = 2**256 - 1


@dataclass(frozen=True, order=True, slots=True)
class Leaf:
    """One leaf value: what kind of artifact, its name, its content digest and its size."""

    kind: str
    name: str
    digest: bytes
    size: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise FormatError(f"leaf kind: expected a non-empty string, found {self.kind!r}")
        if not isinstance(self.name, str):
            raise FormatError(f"leaf name: expected a string, found {type(self.name).__name__}")
        if not isinstance(self.digest, bytes) or len(self.digest) != 32:
            found = f"{len(self.digest)} bytes" if isinstance(self.digest, bytes) else type(self.digest).__name__
            raise FormatError(f"leaf {self.kind}:{self.name}: expected a 32-byte digest, found {found}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_UINT256:
            raise FormatError(f"leaf {self.kind}:{self.name}: expected a size in 0..2**256-1, found {self.size!r}")

    @property
    def label(self) -> str:
        """`kind:name`, the way people and the CLI refer to a leaf."""
        return f"{self.kind}:{self.name}"

    def to_json(self) -> list[str]:
        """The value as OZ's dump stores it: strings, 0x-hex digest, decimal size."""
        return [self.kind, self.name, "0x" + self.digest.hex(), str(self.size)]

    @classmethod
    def from_json(cls, value: Any) -> Leaf:
        if not isinstance(value, list) or len(value) != 4:
            raise FormatError(f"leaf value: expected [kind, name, digest, size], found {_short(value)}")
        kind, name, digest, size = value
        return cls(kind, name, parse_bytes32(digest, what=f"digest of leaf {kind}:{name}"), parse_uint(size))


def leaf_hash(leaf: Leaf) -> bytes:
    """The OZ StandardMerkleTree leaf hash of `leaf` (double keccak of its ABI encoding)."""
    encoded = abi_encode(LEAF_ENCODING, [leaf.kind, leaf.name, leaf.digest, leaf.size])
    return keccak(keccak(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OZ `Hashes.commutativeKeccak256`: keccak256 of the pair in ascending order."""
    return keccak(a + b) if a <= b else keccak(b + a)


@dataclass(frozen=True)
class MultiProof:
    """An OZ multiproof: the leaves in proof order, sibling hashes and flags."""

    leaves: tuple[Leaf, ...]
    proof: tuple[bytes, ...]
    proof_flags: tuple[bool, ...]


class MerkleTree:
    """A `provenance-merkle/v1` tree over `Leaf` values, built like `StandardMerkleTree.of`."""

    def __init__(self, tree: Sequence[bytes], values: Sequence[Leaf], tree_indices: Sequence[int]) -> None:
        self._tree = list(tree)
        self._values = list(values)
        self._tree_indices = list(tree_indices)
        # Like OZ's hashLookup, a duplicated value maps to its last occurrence.
        self._index_of_hash = {self._tree[t]: i for i, t in enumerate(self._tree_indices)}

    @classmethod
    def of(cls, values: Iterable[Leaf]) -> MerkleTree:
        """Build the tree of `values`, leaves sorted by hash (OZ's default `sortLeaves: true`)."""
        values = list(values)
        if not values:
            raise MerkleError("cannot build a Merkle tree of zero leaves: expected at least one leaf")
        hashed = sorted(((leaf_hash(v), i) for i, v in enumerate(values)), key=lambda hv: hv[0])
        tree = make_tree([h for h, _ in hashed])
        tree_indices = [0] * len(values)
        for position, (_, value_index) in enumerate(hashed):
            tree_indices[value_index] = len(tree) - 1 - position
        return cls(tree, values, tree_indices)

    @property
    def root(self) -> bytes:
        return self._tree[0]

    @property
    def nodes(self) -> list[bytes]:
        """The flat node array (a copy), root first."""
        return list(self._tree)

    @property
    def values(self) -> list[Leaf]:
        return list(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def index_of(self, leaf: Leaf) -> int:
        """The value index of `leaf` (its position in the values given to `of`)."""
        index = self._index_of_hash.get(leaf_hash(leaf))
        if index is None:
            raise MerkleError(f"leaf {leaf.label} is not in this tree")
        return index

    def find(self, kind: str, name: str) -> Leaf:
        """The leaf with this kind and name; an error if there is none or more than one."""
        matches = [v for v in self._values if v.kind == kind and v.name == name]
        if len(matches) != 1:
            found = "none" if not matches else f"{len(matches)}"
            raise MerkleError(f"expected one leaf {kind}:{name} in the tree, found {found}")
        return matches[0]

    def proof(self, leaf: Leaf | int) -> list[bytes]:
        """The proof of one value (by value or by value index), as OZ's `getProof`."""
        index = leaf if isinstance(leaf, int) else self.index_of(leaf)
        return [self._tree[i] for i in proof_path(self._tree_index(index))]

    def multiproof(self, leaves: Sequence[Leaf | int]) -> MultiProof:
        """A proof of several values at once, as OZ's `getMultiProof`."""
        indices = [self._tree_index(x if isinstance(x, int) else self.index_of(x)) for x in leaves]
        indices, proof, flags = multiproof_path(indices)
        values = tuple(self._values[self._index_of_hash[self._tree[i]]] for i in indices)
        return MultiProof(values, tuple(self._tree[i] for i in proof), tuple(flags))

    def dump(self) -> dict[str, Any]:
        """A JSON-ready dump: OZ's `standard-v1` dump with our format name."""
        return {
            "format": FORMAT,
            "leafEncoding": list(LEAF_ENCODING),
            "tree": ["0x" + n.hex() for n in self._tree],
            "values": [{"value": v.to_json(), "treeIndex": t} for v, t in zip(self._values, self._tree_indices)],
        }

    @classmethod
    def load(cls, data: Any) -> MerkleTree:
        """Load and fully validate a dump: format, encoding, every node and every value."""
        nodes, entries = dump_parts(data)
        tree = [parse_bytes32(n, what=f"tree node {i}") for i, n in enumerate(nodes)]
        values, tree_indices = [], []
        for i, entry in enumerate(entries):
            leaf, t = load_value(i, entry, tree, len(entries))
            values.append(leaf)
            tree_indices.append(t)
        check_leaf_positions(tree_indices, len(tree))
        for i in range(len(tree) - len(entries)):
            check_inner_node(tree, i)
        return cls(tree, values, tree_indices)

    def _tree_index(self, value_index: int) -> int:
        if not 0 <= value_index < len(self._values):
            raise MerkleError(f"leaf index {value_index} out of range: the tree has {len(self._values)} leaves")
        return self._tree_indices[value_index]


def make_tree(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """OZ `makeMerkleTree`: the flat node array over leaf hashes given in leaf order."""
    if not leaf_hashes:
        raise MerkleError("cannot build a Merkle tree of zero leaves: expected at least one leaf")
    n = len(leaf_hashes)
    tree = [b""] * (2 * n - 1)
    for k, h in enumerate(leaf_hashes):
        tree[len(tree) - 1 - k] = h
    for i in range(len(tree) - 1 - n, -1, -1):
        tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
    return tree


def proof_path(tree_index: int) -> list[int]:
    """The node indices of OZ's `getProof` for the leaf at `tree_index`: its siblings upwards."""
    path = []
    while tree_index > 0:
        path.append(_sibling(tree_index))
        tree_index = _parent(tree_index)
    return path


def multiproof_path(tree_indices: Sequence[int]) -> tuple[list[int], list[int], list[bool]]:
    """OZ's `getMultiProof` in node indices: the leaves' indices in proof order (descending), the
    indices of the proof's nodes, and the flags (true: the next node comes from the stack)."""
    indices = sorted(tree_indices, reverse=True)
    if any(a == b for a, b in zip(indices, indices[1:])):
        raise MerkleError("cannot prove the same leaf twice in one multiproof")
    stack = deque(indices)
    proof: list[int] = []
    flags: list[bool] = []
    while stack and stack[0] > 0:
        j = stack.popleft()
        sibling, parent = _sibling(j), _parent(j)
        if stack and stack[0] == sibling:
            flags.append(True)
            stack.popleft()
        else:
            flags.append(False)
            proof.append(sibling)
        stack.append(parent)
    if not indices:
        proof.append(0)
    return indices, proof, flags


def dump_parts(data: Any) -> tuple[list, list]:
    """The `tree` and `values` lists of a dump, after checking its header and their lengths."""
    if not isinstance(data, dict):
        raise FormatError(f"Merkle dump: expected a JSON object, found {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise FormatError(f"Merkle dump: expected format {FORMAT!r}, found {data.get('format')!r}")
    if data.get("leafEncoding") != list(LEAF_ENCODING):
        raise FormatError(
            f"Merkle dump: expected leafEncoding {list(LEAF_ENCODING)}, found {_short(data.get('leafEncoding'))}"
        )
    nodes, entries = data.get("tree"), data.get("values")
    if not isinstance(nodes, list) or not nodes or not isinstance(entries, list) or not entries:
        raise FormatError("Merkle dump: expected non-empty 'tree' and 'values' lists")
    if len(nodes) != 2 * len(entries) - 1:
        raise FormatError(f"Merkle dump: expected {2 * len(entries) - 1} nodes for {len(entries)} values, found {len(nodes)}")
    return nodes, entries


def load_value(i: int, entry: Any, tree: Sequence[bytes], n_values: int) -> tuple[Leaf, int]:
    """Value `i` of a dump and its tree index, checked against the (parsed) tree."""
    if not isinstance(entry, dict) or set(entry) != {"value", "treeIndex"}:
        raise FormatError(f"Merkle dump: value {i}: expected {{value, treeIndex}}, found {_short(entry)}")
    leaf, t = Leaf.from_json(entry["value"]), entry["treeIndex"]
    if not isinstance(t, int) or not len(tree) - n_values <= t < len(tree):
        raise FormatError(f"Merkle dump: value {i}: treeIndex {t!r} is not a leaf position")
    if tree[t] != leaf_hash(leaf):
        raise FormatError(f"Merkle dump: leaf {leaf.label} does not hash to tree node {t}")
    return leaf, t


def check_leaf_positions(tree_indices: Sequence[int], n_nodes: int) -> None:
    """Each leaf position of a tree of `n_nodes` nodes holds exactly one value."""
    n_values = len(tree_indices)
    if sorted(tree_indices) != list(range(n_nodes - n_values, n_nodes)):
        raise FormatError("Merkle dump: treeIndex values do not cover every leaf position exactly once")


def check_inner_node(tree: Sequence[bytes], i: int) -> None:
    if tree[i] != hash_pair(tree[2 * i + 1], tree[2 * i + 2]):
        raise FormatError(f"Merkle dump: node {i} is not the hash of its children")


def process_proof(leaf_hash_: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by a leaf hash and its proof (OZ `processProof`)."""
    node = leaf_hash_
    for sibling in proof:
        _check_node(sibling)
        node = hash_pair(node, sibling)
    return node


def process_multiproof(leaf_hashes: Sequence[bytes], proof: Sequence[bytes], flags: Sequence[bool]) -> bytes:
    """The root implied by a multiproof (OZ `processMultiProof`), with OZ's consistency checks."""
    if len(proof) < sum(1 for f in flags if not f):
        raise FormatError(f"multiproof: {len(proof)} proof hashes for {sum(1 for f in flags if not f)} unset flags")
    if len(leaf_hashes) + len(proof) != len(flags) + 1:
        raise FormatError(
            f"multiproof: expected leaves + proof = flags + 1, found {len(leaf_hashes)} + {len(proof)} and {len(flags)}"
        )
    stack, siblings = list(leaf_hashes), list(proof)
    for flag in flags:
        a = stack.pop(0)
        b = stack.pop(0) if flag else siblings.pop(0)
        stack.append(hash_pair(a, b))
    return stack[-1] if stack else siblings[0]


def verify(root: bytes, leaf: Leaf, proof: Sequence[bytes]) -> bool:
    """Whether `proof` proves `leaf` under `root` (OZ `StandardMerkleTree.verify`)."""
    return process_proof(leaf_hash(leaf), proof) == root


def verify_nested(run_root: bytes, shard_leaf: Leaf, shard_proof: Sequence[bytes], sample: Leaf,
                  sample_proof: Sequence[bytes]) -> bool:
    """Whether `sample` is in the shard that `shard_leaf` commits to, and that shard in the run
    tree `run_root`: the sample's proof leads to the shard leaf's digest (the shard root), and
    the shard leaf's proof leads to `run_root`."""
    return (shard_leaf.kind == SHARD_KIND and verify(shard_leaf.digest, sample, sample_proof)
            and verify(run_root, shard_leaf, shard_proof))


def verify_multiproof(root: bytes, multiproof: MultiProof) -> bool:
    """Whether `multiproof` proves all its leaves under `root`."""
    hashes = [leaf_hash(v) for v in multiproof.leaves]
    return process_multiproof(hashes, multiproof.proof, multiproof.proof_flags) == root


def parse_bytes32(value: Any, what: str = "value") -> bytes:
    """32 bytes from `0x`-prefixed or bare hex; a one-line error naming `what` otherwise."""
    if isinstance(value, bytes) and len(value) == 32:
        return value
    if not isinstance(value, str):
        raise FormatError(f"{what}: expected 32 bytes as hex, found {type(value).__name__}")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    if len(text) != 64:
        raise FormatError(f"{what}: expected 64 hex characters (32 bytes), found {len(text)}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise FormatError(f"{what}: expected hex, found {_short(value)}") from None


def parse_uint(value: Any) -> int:
    """A uint256 from an int or a decimal string."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UINT256:
        raise FormatError(f"size: expected an integer in 0..2**256-1, found {_short(value)}")
    return value


def _check_node(node: bytes) -> None:
    if not isinstance(node, bytes) or len(node) != 32:
        raise FormatError(f"proof node: expected 32 bytes, found {_short(node)}")


def _sibling(i: int) -> int:
    return i + 1 if i % 2 else i - 1


def _parent(i: int) -> int:
    return (i - 1) // 2


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
