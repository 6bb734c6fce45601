"""The package's Ethereum backend against the real compiled contract: anchor, receipts,
verification (also from a fresh process), on-chain proof checks, and clear errors."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from provenance.anchors.base import AnchorState, Receipt
from provenance.anchors import ethereum
from provenance.errors import AnchorError, ConfigError, FormatError
from provenance.merkle import Leaf, MerkleTree


def tree_of(n: int, seed: int = 0) -> MerkleTree:
    rng = random.Random(seed)
    return MerkleTree.of(Leaf("data.sample", f"train/{i:06d}", rng.randbytes(32), 64) for i in range(n))


def test_anchor_returns_confirmed_receipt_that_verifies(eth_anchor, registry):
    tree = tree_of(10)
    receipt = eth_anchor.anchor(tree.root, b'{"run": 1}')
    assert receipt.state is AnchorState.CONFIRMED
    assert receipt.location["chain_id"] == eth_anchor.chain_id
    assert receipt.location["contract"] == registry.address
    assert receipt.location["tx_hash"].startswith("0x") and len(receipt.location["tx_hash"]) == 66
    assert registry.verifyHash(tree.root)
    verdict = eth_anchor.verify(receipt, tree.root)
    assert verdict.ok, verdict.detail
    assert not eth_anchor.verify(receipt, tree_of(3, seed=1).root).ok


def test_anchor_is_idempotent(eth_anchor):
    tree = tree_of(4)
    first = eth_anchor.anchor(tree.root)
    second = eth_anchor.anchor(tree.root)
    assert second.location["tx_hash"] == first.location["tx_hash"]


def test_receipt_roundtrips_through_json(eth_anchor):
    receipt = eth_anchor.anchor(tree_of(5).root)
    again = Receipt.from_json(json.loads(json.dumps(receipt.to_json())))
    assert again == receipt


def test_forged_receipts_fail_verification(eth_anchor, registry):
    tree = tree_of(6)
    receipt = eth_anchor.anchor(tree.root)
    other = eth_anchor.anchor(tree_of(7).root)
    wrong_tx = receipt.with_state(receipt.state, location=dict(receipt.location, tx_hash=other.location["tx_hash"]))
    assert "emitted no RootAnchored for this root" in eth_anchor.verify(wrong_tx, tree.root).detail
    no_tx = receipt.with_state(receipt.state, location=dict(receipt.location, tx_hash="0x" + "ab" * 32))
    assert "not found" in eth_anchor.verify(no_tx, tree.root).detail
    wrong_chain = receipt.with_state(receipt.state, location=dict(receipt.location, chain_id=1))
    assert "receipt is for chain 1" in eth_anchor.verify(wrong_chain, tree.root).detail


def test_python_proofs_verify_on_chain_for_1000_leaves(eth_anchor):
    tree = tree_of(1000, seed=42)
    eth_anchor.anchor(tree.root)
    for i in range(0, 1000, 37):
        leaf = tree.values[i]
        assert eth_anchor.verify_inclusion(tree.root, tree.proof(i), leaf)
        assert eth_anchor.verify_leaf_inclusion(tree.root, tree.proof(i), leaf)
    mp = tree.multiproof(list(range(0, 1000, 9)))
    assert eth_anchor.verify_multi_inclusion(tree.root, mp)
    forged = Leaf(tree.values[0].kind, tree.values[0].name, bytes(32), tree.values[0].size)
    assert not eth_anchor.verify_leaf_inclusion(tree.root, tree.proof(0), forged)


def test_zero_and_short_roots_are_rejected_before_sending(eth_anchor):
    with pytest.raises(FormatError, match="expected a non-zero root"):
        eth_anchor.anchor(bytes(32))
    with pytest.raises(FormatError, match="expected 32 bytes, found 31"):
        eth_anchor.anchor(bytes(31))


def test_anchor_without_signer_says_where_keys_come_from(chain, registry, monkeypatch):
    monkeypatch.delenv("ETH_PRIVATE_KEY", raising=False)
    reader = ethereum.EthereumAnchor(chain.provider.web3, registry.address, None)
    with pytest.raises(ConfigError, match="set ETH_PRIVATE_KEY or PROVENANCE_ETH_ACCOUNT"):
        reader.anchor(tree_of(2).root)


def test_address_without_contract_is_rejected(chain, stranger):
    with pytest.raises(AnchorError, match=f"no contract code at {stranger.address}"):
        ethereum.EthereumAnchor(chain.provider.web3, stranger.address)


def test_unknown_network_name():
    with pytest.raises(ConfigError, match="unknown Ethereum network 'sepolia-typo': expected 'local' or an http"):
        ethereum.connect("sepolia-typo")


def test_rpc_url_with_nothing_listening():
    with pytest.raises(AnchorError) as info:
        ethereum.connect("http://127.0.0.1:9/secret-api-key", request_timeout=2)
    assert str(info.value) == "cannot reach Ethereum RPC at http://127.0.0.1:9: connection refused or host unreachable"


def test_local_chain_anchor_verifies_from_a_fresh_process():
    """The embedded default: anvil with kept state; a new process finds the anchor."""
    anchor = ethereum.connect("local")
    tree = tree_of(12, seed=5)
    receipt = anchor.anchor(tree.root)
    assert receipt.state is AnchorState.CONFIRMED
    script = (
        "import json, sys\n"
        "from provenance.anchors import ethereum\n"
        "from provenance.anchors.base import Receipt\n"
        "r = Receipt.from_json(json.loads(sys.argv[1]))\n"
        "v = ethereum.connect('local').verify(r, r.root)\n"
        "print(json.dumps(v.to_json()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(receipt.to_json())], capture_output=True, text=True, env=os.environ.copy()
    )
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["ok"], verdict
    assert verdict["confirmations"] >= 1
