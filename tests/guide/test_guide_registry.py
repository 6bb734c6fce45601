"""A registry its user already deployed from the guide's own contract
(tests/contracts/guide/MLProvenance.sol), named as `contract_address`: refused in one line that
says what it is and what to do, and the guide's `BlockchainManager` marks the anchor failed (a
wrong contract does not come back by retrying), never pending."""

from __future__ import annotations

import os

from web3 import Web3

from provenance import BlockchainManager
from provenance.record.receipts import AnchorState

from ..contracts.test_guide_abi import compile_guide


def deploy_guide_contract(url: str) -> str:
    """The guide's contract, deployed as its user would (from the node's own account)."""
    w3 = Web3(Web3.HTTPProvider(url))
    contract_type = compile_guide()
    factory = w3.eth.contract(abi=[e.model_dump(mode="json", by_alias=True) for e in contract_type.abi],
                              bytecode=contract_type.deployment_bytecode.bytecode)
    tx = factory.constructor().transact({"from": w3.eth.accounts[0]})
    return w3.eth.wait_for_transaction_receipt(tx).contractAddress


def test_a_registry_from_the_guides_contract_is_refused_and_marked_failed(anvil, tmp_path, monkeypatch):
    monkeypatch.delenv("ETH_PRIVATE_KEY", raising=False)
    address = deploy_guide_contract(anvil.url)
    # the guide's own config shape, pointed at the user's chain and registry
    manager = BlockchainManager({"blockchain": {"networks": ["ethereum"], "ethereum": {
        "rpc_url": anvil.url, "contract_address": address}}})
    root = os.urandom(32)
    transactions = manager.store_merkle_root(root, {"stage": "pre_training"})
    receipt = transactions["ethereum"]
    assert receipt.state is AnchorState.FAILED, receipt
    assert "is the original system's registry" in receipt.reason and "ETH_PRIVATE_KEY" not in receipt.reason
    assert not transactions


def test_the_tracker_refuses_it_in_one_line_with_what_to_do(anvil, tmp_path, monkeypatch):
    import sys

    import pytest

    from provenance import ConfigError, ProvenanceTracker

    from .test_guide_examples import HERE

    sys.path.insert(0, str(HERE))
    from glue import model, test_data, train_data

    monkeypatch.delenv("ETH_PRIVATE_KEY", raising=False)
    address = deploy_guide_contract(anvil.url)
    config = {"blockchain": {"networks": ["ethereum"], "ethereum": {"rpc_url": anvil.url, "contract_address": address}}}
    provenance_tracker = ProvenanceTracker(base_dir=str(tmp_path / "artifacts"), config=config)
    provenance_tracker.track_data(train_data, test_data)
    provenance_tracker.track_model(model)
    with pytest.raises(ConfigError) as refused:
        provenance_tracker.store_merkle_on_blockchain_before_training({"epochs": 5, "batch_size": 32})
    message = str(refused.value)
    assert "\n" not in message and f"{address} on chain 31337 is the original system's registry" in message
    assert "contract_address to null" in message and "ETH_PRIVATE_KEY" not in message
    provenance_tracker.close()
