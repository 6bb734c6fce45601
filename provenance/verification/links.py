"""Where a person can look an anchor up: a public block explorer's page for its transaction.

Only networks with a public explorer get a link (Etherscan for Ethereum mainnet, Sepolia, Holesky
and Hoodi; mempool.space for Bitcoin main, test, testnet4 and signet: each network's spec knows its own); a local chain, regtest or
IPFS gets none, so no page is ever made up. The run folder is the attacker's: a link is built only
from a fixed base and a transaction id of the exact shape the network uses, never from free text.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..anchors.registry import find


def explorer_link(network: str, location: Mapping[str, Any]) -> str | None:
    """A public explorer's page for an anchor's transaction, or None where the network has none
    (each network's spec builds its own: `anchors/<network>/__init__.py`)."""
    spec = find(network)
    return spec.explorer_link(location) if spec is not None else None
