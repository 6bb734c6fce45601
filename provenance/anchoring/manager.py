"""`BlockchainManager`: the original system's manager of bare Merkle roots, over our backends.

The original guide names three operations, kept here with the same meaning:

    manager = BlockchainManager(config)                 # the same config as ProvenanceTracker's
    receipts = manager.store_merkle_root(root, metadata)  # on every configured network
    verdicts = manager.verify_merkle_root(root)           # checked against each network
    info = manager.get_transaction_info(root)             # where each anchor is, and its state

A root goes through the durable outbox like a run's stages (`Anchors.anchor_root`), so a network
that is down leaves it pending for `provenance anchor --retry`, and nothing is ever invented. The
metadata plays the part of a run's record: a `provenance-root/v1` document (the root and its
metadata, canonical JSON) whose sha2-256 is the anchored `recordDigest` on Ethereum and whose
bytes are what IPFS stores. A verification that cannot check says so and fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from . import ROOTS_RUN_ID, AnchorResult, Anchors
from ..anchors.base import AnchorBackend
from ..record.receipts import Receipt, Verdict
from ..config import load_settings, refuse_secrets
from ..errors import AnchorError, ConfigError
from ..files import data_home
from ..merkle import parse_bytes32


class BlockchainManager:
    """Store, verify and look up bare Merkle roots on the configured networks."""

    def __init__(self, config: Mapping[str, Any] | str | Path | None = None, *,
                 backends: Mapping[str, AnchorBackend] | None = None) -> None:
        self.settings = load_settings(config)  # typed; `config` is its dict form, kept for the API
        self.config = self.settings.as_dict()
        self.anchors = Anchors(self.settings, backends)

    @property
    def networks(self) -> list[str]:
        return list(self.anchors.networks)

    def store_merkle_root(self, merkle_root: bytes | str, metadata: str | Mapping[str, Any] | None = None) -> AnchorResult:
        """Anchor `merkle_root` on every configured network and wait for each delivery.

        Returns {network: receipt}: true only if some anchor reached its network; each receipt's
        `state` says confirmed, submitted, pending (network down, retried later) or failed."""
        root = parse_bytes32(merkle_root, what="merkle_root")
        payload = _root_document(root, metadata)
        return self.anchors.anchor_root(ROOTS_RUN_ID, data_home(), "0x" + root.hex(), root, bytes(32), payload, wait=True)

    def verify_merkle_root(self, merkle_root: bytes | str) -> dict[str, dict[str, Any]]:
        """Check `merkle_root` against every configured network: {network: verdict as a dict}.

        Ethereum looks up this signer's own anchor of the root in the contract (found even if it
        was stored by another process); IPFS and Bitcoin check the receipts the outbox holds."""
        root = parse_bytes32(merkle_root, what="merkle_root")
        receipts = self._receipts(root)
        out: dict[str, dict[str, Any]] = {}
        for network in self.networks:
            receipt = receipts.get(network) or self._find_on_chain(network, root)
            if receipt is None:
                verdict = Verdict(network, False, f"no anchor of 0x{root.hex()} known on {network}")
            else:
                verdict = self.anchors.verify(receipt)
            out[network] = verdict.to_json()
        return out

    def get_transaction_info(self, merkle_root: bytes | str) -> dict[str, dict[str, Any]]:
        """Where `merkle_root` is anchored on each network, from the outbox (and, for Ethereum,
        the contract): {network: receipt as a dict (state, tx hash / CID / txid, block, ...)}.
        A network with no anchor of the root is absent."""
        root = parse_bytes32(merkle_root, what="merkle_root")
        receipts = self._receipts(root)
        for network in self.networks:
            if network not in receipts:
                found = self._find_on_chain(network, root)
                if found is not None:
                    receipts[network] = found
        return {network: receipt.to_json() for network, receipt in receipts.items()}

    def _receipts(self, root: bytes) -> dict[str, Receipt]:
        """The newest receipt per network for `root` in the outbox, whichever run sent it."""
        found: dict[str, Receipt] = {}
        for entry in self.anchors.outbox.entries(root=root):
            if entry.network in self.networks:
                found[entry.network] = entry.current_receipt()
        return found

    def _find_on_chain(self, network: str, root: bytes) -> Receipt | None:
        if network != "ethereum":
            return None
        try:
            return self.anchors.backend(network).find_anchor(root)  # type: ignore[attr-defined]
        except (AnchorError, ConfigError):
            return None


def _root_document(root: bytes, metadata: str | Mapping[str, Any] | None) -> bytes:
    """The bytes anchored beside a bare root: `provenance-root/v1`, canonical JSON of the root and
    its metadata. Its sha2-256 is the Ethereum `recordDigest` and the digest in its IPFS CID."""
    if metadata is not None:
        refuse_secrets(metadata, "metadata")  # it goes on IPFS and its digest on chain
        if not isinstance(metadata, (str, Mapping)):
            raise ConfigError(f"metadata: expected a string or a JSON object, found {type(metadata).__name__}")
    from ..anchors.ipfs.backend import ROOT_FORMAT  # imported when used: IPFS's client is not light

    document = {"format": ROOT_FORMAT, "root": "0x" + root.hex(), "metadata": metadata}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
