"""`provenance.BlockchainManager`, the original system's three operations, on a real anvil (the
contract deployed) and the real js-ipfs node, through the outbox."""

from __future__ import annotations

import os

import pytest

from provenance import BlockchainManager
from provenance.record.receipts import AnchorState
from provenance.errors import ConfigError
from tests.support.anvil import free_port


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    """Each test its own data folder (outbox), so no other test's entries or files are in play."""
    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))


def config(anvil, ipfs_url: str | None = None) -> dict:
    """The manager's config for the test's anvil (its contract named, since this test's own data
    folder holds no deployments file) and, optionally, IPFS."""
    networks = ["ethereum"] + (["ipfs"] if ipfs_url else [])
    ethereum = {"rpc_url": anvil if isinstance(anvil, str) else anvil.url}
    if not isinstance(anvil, str):
        deploy_tx = anvil.rpc("eth_getBlockByNumber", "0x1", True)["transactions"][0]["hash"]
        ethereum["contract_address"] = anvil.rpc("eth_getTransactionReceipt", deploy_tx)["contractAddress"]
    return {"blockchain": {"networks": networks, "ethereum": ethereum, "ipfs": {"url": ipfs_url}}}


def test_store_verify_and_look_up_a_root_on_every_network(anvil, ipfs_node):
    root = os.urandom(32)
    manager = BlockchainManager(config(anvil, ipfs_node.url))
    receipts = manager.store_merkle_root(root, {"model": "digits-cnn", "accuracy": 0.95})
    assert receipts and receipts.states == {"ethereum": "confirmed", "ipfs": "confirmed"}

    verdicts = manager.verify_merkle_root("0x" + root.hex())
    assert all(v["ok"] for v in verdicts.values()), verdicts
    assert verdicts["ethereum"]["facts"]["submitter"] == receipts["ethereum"].location["submitter"]

    info = manager.get_transaction_info(root)
    assert info["ethereum"]["location"]["tx_hash"] == receipts["ethereum"].location["tx_hash"]
    assert info["ipfs"]["location"]["cid"] == receipts["ipfs"].location["cid"]

    # Another process (a new manager) finds the same anchors, from the outbox and the contract.
    again = BlockchainManager(config(anvil, ipfs_node.url))
    assert all(v["ok"] for v in again.verify_merkle_root(root).values())


def test_a_root_never_stored_does_not_verify(anvil):
    manager = BlockchainManager(config(anvil))
    verdicts = manager.verify_merkle_root(os.urandom(32))
    assert not verdicts["ethereum"]["ok"] and "no anchor" in verdicts["ethereum"]["detail"]
    assert manager.get_transaction_info(os.urandom(32)) == {}


def test_a_network_that_is_down_leaves_the_root_pending_and_the_result_falsy():
    manager = BlockchainManager(config(f"http://127.0.0.1:{free_port()}"))
    receipts = manager.store_merkle_root(os.urandom(32), "metadata")
    assert not receipts  # the guide's `if transactions:` reads "failed"
    assert receipts["ethereum"].state is AnchorState.PENDING
    assert "tx_hash" not in receipts["ethereum"].location  # nothing invented


def test_metadata_holding_a_key_is_refused_without_echoing_it(anvil):
    key = os.urandom(32).hex()
    with pytest.raises(ConfigError) as refused:
        BlockchainManager(config(anvil)).store_merkle_root(os.urandom(32), {"note": key})
    assert key not in str(refused.value)


def test_bad_roots_are_one_line_errors(anvil):
    manager = BlockchainManager(config(anvil))
    with pytest.raises(Exception, match="merkle_root: expected 64 hex characters"):
        manager.store_merkle_root("0x1234")
