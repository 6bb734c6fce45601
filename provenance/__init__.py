"""Verifiable provenance for machine-learning training runs.

One folder per stage of the data flow: artifacts -> digests (`digests`) -> leaves -> Merkle tree
(`merkle`) -> record (`record`) -> anchors (`anchors`, delivered by `anchoring`) -> verification
(`verification`). `ProvenanceTracker` (`training`) ties it together for a training loop;
`BlockchainManager` (`anchoring`) is the original guide's API for bare roots.
"""

from __future__ import annotations

from typing import Any

from .errors import AnchorError, ConfigError, FormatError, MerkleError, ProvenanceError, VerificationError

# Loaded on first use, so `import provenance.cli` (and `provenance --help`) pays for neither
# web3 nor the Merkle fast path. `ProvenanceBlockchainTracker` is the original system's name for
# the tracker (`ml_provenance.provenance.blockchain`), so its users' imports keep working.
_LAZY = {
    "Leaf": ("merkle", "Leaf"),
    "MerkleTree": ("merkle", "MerkleTree"),
    "BlockchainManager": ("anchoring.manager", "BlockchainManager"),
    "ProvenanceTracker": ("training.tracker", "ProvenanceTracker"),
    "ProvenanceBlockchainTracker": ("training.tracker", "ProvenanceTracker"),
}

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
