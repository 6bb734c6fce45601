"""Verifiable provenance for machine-learning training runs.

artifacts -> digests (`hashing`) -> leaves -> Merkle tree (`merkle`) -> record (`record`) ->
anchors (`anchors`) -> verification (`verify`). `ProvenanceTracker` ties it together for a
training loop.
"""

from .errors import AnchorError, ConfigError, FormatError, MerkleError, ProvenanceError, VerificationError
from .merkle import Leaf, MerkleTree
from .training.tracker import ProvenanceTracker

__all__ = [
    "AnchorError",
    "ConfigError",
    "FormatError",
    "Leaf",
    "MerkleError",
    "MerkleTree",
    "ProvenanceError",
    "ProvenanceTracker",
    "VerificationError",
]
