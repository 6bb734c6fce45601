"""Many roots in one anchor: the batch tree (one `batch.member` leaf per root), each member's
receipt (the batch anchor's, with the member's proof to the batch root), and which networks can
check such a receipt (their spec's `proves_batch_members`: the backend verifies the proof against
the anchored batch root, as Ethereum's contract does with `verifyLeafInclusion`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol, Sequence, runtime_checkable

from ..anchors.base import ZERO_ROOT
from ..anchors.registry import find
from ..merkle import Leaf, MerkleTree
from ..record import BATCH_MEMBER
from ..record.receipts import Receipt


@runtime_checkable
class AnchorsBatches(Protocol):
    """What delivering a batch needs of a backend: find the batch root's anchor, or make it."""

    def find_anchor(self, root: bytes) -> Receipt | None: ...

    def anchor(self, root: bytes, record: bytes = b"", prev_root: bytes = ZERO_ROOT) -> Receipt: ...


def proves_members(network: str) -> bool:
    """Whether `network` checks a member's proof against an anchored batch root."""
    spec = find(network)
    return spec is not None and spec.proves_batch_members


def batch_leaves(members: Sequence[tuple[str, bytes]]) -> list[Leaf]:
    return [Leaf(BATCH_MEMBER, name, root, 0) for name, root in members]


def batch_tree(members: Sequence[tuple[str, bytes]]) -> MerkleTree:
    return MerkleTree.of(batch_leaves(members))


def member_receipt(batch: Receipt, tree: MerkleTree, name: str, root: bytes) -> Receipt:
    """A member's receipt: the batch transaction's, for `root`, with its proof to the batch root."""
    leaf = Leaf(BATCH_MEMBER, name, root, 0)
    location = dict(batch.location) | {
        "batch_root": "0x" + tree.root.hex(),
        "batch_leaf": leaf.to_json(),
        "batch_proof": ["0x" + p.hex() for p in tree.proof(leaf)],
        "batch_size": len(tree),
    }
    return replace(batch, root=root, location=location)
