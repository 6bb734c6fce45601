"""`provenance-merkle/v1` trees, fast: byte-compatible with OpenZeppelin's StandardMerkleTree.

The format is specified, readably, in `provenance.merkle.reference`; this module computes the same
roots, proofs, multiproofs and dumps at more than a million leaves per second. Leaves are
ABI-encoded and hashed in C (`provenance/merkle/_native/`) on every core, eight messages per AVX-512
instruction where the CPU has it; the tree is one flat `bytes` of 32-byte nodes (64 MB for a
million leaves) instead of a Python object per node.

Ways in, all giving the same tree for the same values:

- `MerkleTree.of(leaves)`: from `Leaf` objects;
- `MerkleTree.from_columns(kinds, names, digests, sizes)`: from columns (lists or numpy arrays),
  with no `Leaf` object per value, the fastest way for millions of samples;
- `MerkleTree.from_shards(shards)`: from `LeafShard`s hashed separately (other processes or
  machines), the same root as building at once;
- `MerkleTree.load(dump)`: a dump, fully validated at the same speed.

Without a C compiler the extension is absent and the same functions come from
`provenance.merkle.pure`, its pure-Python twin: the same bytes, 70 to 90 times slower.
`PROVENANCE_MERKLE_BACKEND=python` chooses the twin even where the C is built, `=native` requires
the C; `BACKEND` says which one is in use.

The parts: `tree.py` (MerkleTree, proofs, dumps), `shard.py` (LeafShard), `columns.py` (values in
bulk), `backend.py` (which implementation), `kinds.py` (the leaf kinds' names), `reference.py`
(the readable specification), `pure.py` (the pure-Python twin of the C).
"""

from __future__ import annotations

from . import reference
from .backend import BACKEND, BACKEND_ENV, default_threads, native  # native: the module in use at import (tests swap backend.native)
from .columns import _Columns
from .reference import (
    FORMAT,
    LEAF_ENCODING,
    MAX_UINT256,
    Leaf,
    MultiProof,
    hash_pair,
    make_tree,
    parse_bytes32,
    parse_uint,
    process_multiproof,
    process_proof,
)
from .shard import SHARD_FORMAT, LeafShard
from .tree import MerkleTree, leaf_hash, leaf_hashes, load_dump_file, verify, verify_multiproof

__all__ = [
    "BACKEND", "FORMAT", "LEAF_ENCODING", "MAX_UINT256", "SHARD_FORMAT", "Leaf", "LeafShard", "MerkleTree", "MultiProof",
    "default_threads", "hash_pair", "leaf_hash", "leaf_hashes", "load_dump_file", "make_tree", "parse_bytes32",
    "parse_uint", "process_multiproof", "process_proof", "verify", "verify_multiproof",
]  # fmt: skip
