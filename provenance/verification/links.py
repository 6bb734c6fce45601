"""Where a person can look an anchor up: a public block explorer's page for its transaction.

Only networks with a public explorer get a link (Etherscan for Ethereum mainnet, Sepolia, Holesky
and Hoodi; mempool.space for Bitcoin main, test, testnet4 and signet); a local chain, regtest or
IPFS gets none, so no page is ever made up. The run folder is the attacker's: a link is built only
from a fixed base and a transaction id of the exact shape the network uses, never from free text.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

ETHERSCAN = {1: "https://etherscan.io", 11155111: "https://sepolia.etherscan.io", 17000: "https://holesky.etherscan.io",
             560048: "https://hoodi.etherscan.io"}
MEMPOOL = {"main": "https://mempool.space", "test": "https://mempool.space/testnet",
           "testnet4": "https://mempool.space/testnet4", "signet": "https://mempool.space/signet"}

_ETH_TX = re.compile(r"0x[0-9a-fA-F]{64}")
_BTC_TX = re.compile(r"[0-9a-fA-F]{64}")


def explorer_link(network: str, location: Mapping[str, Any]) -> str | None:
    """A public explorer's page for an anchor's transaction, or None where the network has none."""
    if network == "ethereum":
        base = ETHERSCAN.get(_int(location.get("chain_id")))
        tx = location.get("tx_hash")
        return f"{base}/tx/{tx}" if base and isinstance(tx, str) and _ETH_TX.fullmatch(tx) else None
    if network == "bitcoin":
        base = MEMPOOL.get(str(location.get("chain")))
        tx = location.get("txid")
        return f"{base}/tx/{tx}" if base and isinstance(tx, str) and _BTC_TX.fullmatch(tx) else None
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
