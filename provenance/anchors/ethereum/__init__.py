"""Ethereum: the `MLProvenance` contract backend, its keys, deployments and local chain (anvil).

Registers the network's spec (`anchors/registry.py`); the backend is imported when one is opened."""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..registry import NetworkSpec, register
from .settings import EthereumSettings

ETHERSCAN = {1: "https://etherscan.io", 11155111: "https://sepolia.etherscan.io", 17000: "https://holesky.etherscan.io",
             560048: "https://hoodi.etherscan.io"}
_TX = re.compile(r"0x[0-9a-fA-F]{64}")


def signer_of(section: EthereumSettings) -> Any:
    """The signer the settings name: the Ape keystore account `account`, else the key of a dict
    held in memory, else None (`connect` then takes `$ETH_PRIVATE_KEY`, else the node's account)."""
    from .keys import ape_keystore_signer

    return ape_keystore_signer(section.account) if section.account else section.signer


def _open(section: EthereumSettings, read_only: bool) -> Any:
    from . import backend

    return backend.connect(
        section.network, contract_address=section.contract_address, confirmations=section.confirmations,
        request_timeout=section.request_timeout, receipt_timeout=section.receipt_timeout, signer=signer_of(section),
        gas_limit=section.gas_limit, gas_price=section.gas_price, allow_start=not read_only, allow_deploy=not read_only,
    )


def _destination(location: Mapping[str, Any]) -> str:
    """`ethereum:<chain id>:<contract>`, as `EthereumAnchor.destination` says it."""
    contract, chain_id = location.get("contract"), location.get("chain_id")
    if chain_id is None or not contract:
        return ""
    from eth_utils import is_address, to_checksum_address

    return f"ethereum:{chain_id}:{to_checksum_address(contract)}" if is_address(contract) else ""


def _explorer_link(location: Mapping[str, Any]) -> str | None:
    chain_id = location.get("chain_id")
    try:
        base = None if isinstance(chain_id, bool) else ETHERSCAN.get(int(chain_id))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        base = None
    tx = location.get("tx_hash")
    return f"{base}/tx/{tx}" if base and isinstance(tx, str) and _TX.fullmatch(tx) else None


SPEC = register(NetworkSpec(
    name="ethereum", settings=EthereumSettings, open=_open, destination=_destination, explorer_link=_explorer_link,
    receipt_fields={"chain_id": "chain_id", "contract": "contract", "tx_hash": "tx", "block_number": "block", "submitter": "submitter"},
    proves_batch_members=True, short="eth", endpoint=lambda section: section.network,
))
