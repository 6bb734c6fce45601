"""Bitcoin: roots in OP_RETURN outputs over Bitcoin Core JSON-RPC, offline signing, OpenTimestamps,
and the regtest node's launcher.

Registers the network's spec (`anchors/registry.py`); the backend is imported when one is opened."""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..registry import NetworkSpec, register
from .settings import BitcoinSettings

MEMPOOL = {"main": "https://mempool.space", "test": "https://mempool.space/testnet",
           "testnet4": "https://mempool.space/testnet4", "signet": "https://mempool.space/signet"}
_TX = re.compile(r"[0-9a-fA-F]{64}")


def _open(section: BitcoinSettings, read_only: bool) -> Any:
    from . import backend

    config = backend.BitcoinConfig.of(section)
    opened = backend.connect(config)
    if config.url == backend.LOCAL and section.mine_local_blocks and not read_only:
        from .node import default_node

        return backend.MinedLocally(opened, default_node())
    return opened


def _explorer_link(location: Mapping[str, Any]) -> str | None:
    base = MEMPOOL.get(str(location.get("chain")))
    tx = location.get("txid")
    return f"{base}/tx/{tx}" if base and isinstance(tx, str) and _TX.fullmatch(tx) else None


SPEC = register(NetworkSpec(
    name="bitcoin", settings=BitcoinSettings, open=_open, explorer_link=_explorer_link,
    receipt_fields={"chain": "chain", "txid": "txid", "vout": "vout"}, short="btc",
    endpoint=lambda section: section.rpc_url,
))
