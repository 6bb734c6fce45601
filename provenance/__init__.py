"""Verifiable provenance for machine-learning training runs.

One folder per stage of the data flow: artifacts -> digests (`digests`) -> leaves -> Merkle tree
(`merkle`) -> record (`record`) -> anchors (`anchors`, delivered by `anchoring`) -> verification
(`verification`). `ProvenanceTracker` (`training`) ties it together for a training loop;
`BlockchainManager` (`anchoring`) is the original guide's API for bare roots.
"""

from .errors import AnchorError, ConfigError, FormatError, MerkleError, ProvenanceError, VerificationError
from .merkle import Leaf, MerkleTree
from .anchoring.manager import BlockchainManager
from .training.tracker import ProvenanceTracker

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
