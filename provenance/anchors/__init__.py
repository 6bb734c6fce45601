"""Anchor backends: where roots and records are made public (Ethereum, IPFS, Bitcoin)."""

from .base import AnchorBackend, AnchorState, Receipt, Verdict

__all__ = ["AnchorBackend", "AnchorState", "Receipt", "Verdict"]
