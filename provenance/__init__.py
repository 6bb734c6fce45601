"""Verifiable provenance for machine-learning training runs.

artifacts -> digests (`hashing`) -> leaves -> Merkle tree (`merkle`) -> record (`record`) ->
anchors (`anchors`) -> verification (`verify`). `ProvenanceTracker` ties it together for a
training loop.
"""

from .errors import AnchorError, ConfigError, FormatError, MerkleError, ProvenanceError, VerificationError
from .merkle import Leaf, MerkleTree
from .manager import BlockchainManager
from .tracker import ProvenanceTracker

# The original system's name for the tracker (`ml_provenance.provenance.blockchain`), so its
# users' imports keep working with only the package name changed.
ProvenanceBlockchainTracker = ProvenanceTracker

__all__ = [
    "AnchorError",
    "BlockchainManager",
    "ConfigError",
    "FormatError",
    "Leaf",
    "MerkleError",
    "MerkleTree",
    "ProvenanceBlockchainTracker",
    "ProvenanceError",
    "ProvenanceTracker",
    "VerificationError",
]
