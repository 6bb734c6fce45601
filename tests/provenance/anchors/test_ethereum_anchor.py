"""The package's Ethereum backend against the real compiled contract: anchor, receipts,
verification (also from a fresh process), on-chain proof checks, and clear errors."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
from web3 import Web3

from provenance.record.receipts import AnchorState, Receipt, Status
from provenance.anchors.ethereum import backend as ethereum
from provenance.anchoring import batch as batching
from provenance.errors import AnchorError, ConfigError, FormatError, NotDeployedError
from provenance.merkle import Leaf, MerkleTree
from tests.support.cli import cli


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
    assert receipt.location["submitter"] == eth_anchor.signer_address
    assert registry.anchorOf(eth_anchor.signer_address, tree.root)[0]
    verdict = eth_anchor.verify(receipt, tree.root)
    assert verdict.ok, verdict.detail
    facts = verdict.facts
    assert facts["submitter"] == eth_anchor.signer_address and facts["contract"] == registry.address
    assert (facts["chain_id"], facts["block_number"], facts["revoked"]) == (eth_anchor.chain_id, receipt.location["block_number"], False)
    assert facts["record_digest"] == "0x" + __import__("hashlib").sha256(b'{"run": 1}').hexdigest()
    assert facts["block_hash"] == receipt.location["block_hash"] and facts["timestamp"] > 0
    assert verdict.to_json()["facts"] == facts
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
    verdict = eth_anchor.verify(wrong_chain, tree.root)
    assert verdict.status is Status.CANNOT_CHECK and verdict.detail.startswith("cannot check: receipt is for chain 1")
    other_submitter = receipt.with_state(receipt.state, location=dict(receipt.location, submitter="0x" + "11" * 20))
    assert "the receipt names 0x1111" in eth_anchor.verify(other_submitter, tree.root).detail
    no_contract = receipt.with_state(receipt.state, location=dict(receipt.location, contract="0x" + "22" * 20))
    assert "cannot check: no contract code at 0x2222" in eth_anchor.verify(no_contract, tree.root).detail
    wrong_digest = receipt.with_state(receipt.state, location=dict(receipt.location, record_digest="0x" + "33" * 32))
    assert "record_digest 0x3333" in eth_anchor.verify(wrong_digest, tree.root).detail


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
        "from provenance.anchors.ethereum import backend as ethereum\n"
        "from provenance.record.receipts import Receipt\n"
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


# ---------------------------------------------------------------- per-submitter anchors (real anvil)


def anchor_batch(backend: ethereum.EthereumAnchor, members: list[tuple[str, bytes]], manifest: bytes = b"") -> list[Receipt]:
    """Many roots in one transaction, as the outbox's batch delivery does: the root of a tree of
    `batch.member` leaves, and each member's receipt with its proof to that root."""
    tree = batching.batch_tree(members)
    batch_receipt = backend.anchor(tree.root, manifest)
    return [batching.member_receipt(batch_receipt, tree, name, root) for name, root in members]


def anvil_backend(anvil, account: int = 0, **kwargs) -> ethereum.EthereumAnchor:
    """The package's backend on the test's anvil, signing with the node's account `account`."""
    from web3 import Web3

    from provenance.anchors.ethereum.keys import NodeSigner

    w3 = Web3(Web3.HTTPProvider(anvil.url))
    return ethereum.connect(anvil.url, signer=NodeSigner(w3.eth.accounts[account]), **kwargs)


def test_front_run_root_by_another_account_leaves_our_anchor_ours(anvil):
    ours, attacker = anvil_backend(anvil, 0), anvil_backend(anvil, 5)
    root = tree_of(9, seed=9).root
    stolen = attacker.anchor(root, b"junk record", prev_root=b"\x01" * 32)
    assert stolen.location["submitter"] == attacker.signer_address
    assert ours.find_anchor(root) is None, "someone else's anchor is not ours"

    receipt = ours.anchor(root, b"our record")

    assert receipt.state is AnchorState.CONFIRMED
    assert receipt.location["tx_hash"] != stolen.location["tx_hash"]
    assert receipt.location["submitter"] == ours.signer_address
    verdict = ours.verify(receipt, root)
    assert verdict.ok, verdict.detail
    assert verdict.facts["submitter"] == ours.signer_address
    assert verdict.facts["prev_root"] == "0x" + "00" * 32
    assert ours.signer_address in verdict.detail
    # the attacker's receipt verifies only as the attacker's, never as ours
    assert attacker.verify(stolen, root).facts["submitter"] == attacker.signer_address
    forged = stolen.with_state(stolen.state, location=dict(stolen.location, submitter=ours.signer_address))
    assert not ours.verify(forged, root).ok


def test_revoked_anchor_is_a_failed_verdict_naming_the_revoker(anvil):
    backend = anvil_backend(anvil, 0)
    root = tree_of(8, seed=8).root
    receipt = backend.anchor(root, b"record")
    assert backend.verify(receipt, root).ok

    tx_hash = backend.revoke(root, "key leaked")

    assert tx_hash.startswith("0x") and len(tx_hash) == 66
    verdict = backend.verify(receipt, root)
    assert not verdict.ok
    assert verdict.detail == f"revoked by {backend.signer_address}: key leaked"
    assert verdict.facts["revoked"] is True and verdict.facts["submitter"] == backend.signer_address
    assert not backend.is_anchored(root)
    with pytest.raises(ethereum.RefusedError, match="already revoked"):
        backend.revoke(root, "again")
    with pytest.raises(ethereum.RefusedError, match="and revoked: expected a root that can be anchored"):
        backend.anchor(root, b"record")


def test_revoke_of_someone_elses_or_no_anchor_is_refused(anvil):
    ours, other = anvil_backend(anvil, 0), anvil_backend(anvil, 3)
    root = tree_of(7, seed=77).root
    other.anchor(root)
    with pytest.raises(ethereum.RefusedError, match=f"expected an anchor of 0x{root.hex()} by {ours.signer_address}"):
        ours.revoke(root, "not mine")
    assert other.is_anchored(root)


def test_receipt_naming_another_deployment_verifies_against_its_own_contract(anvil):
    from web3 import Web3

    from provenance.anchors.ethereum.keys import NodeSigner

    first = anvil_backend(anvil, 0)
    root = tree_of(6, seed=66).root
    receipt = first.anchor(root)
    # a redeploy: the deployments file now names a new contract, which the next connect uses
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    second_address = ethereum.deploy(w3, NodeSigner(w3.eth.accounts[0]), network="test anvil").address
    second = anvil_backend(anvil, 0)
    assert second.address == second_address != first.address
    assert not second.is_anchored(root)

    verdict = second.verify(receipt, root)

    assert verdict.ok, verdict.detail
    assert verdict.facts["contract"] == first.address
    assert second.destination == f"ethereum:{second.chain_id}:{second_address}"


def test_batched_receipts_verify_with_the_scoped_on_chain_check(anvil):
    ours, attacker = anvil_backend(anvil, 0), anvil_backend(anvil, 4)
    members = [("run-a/pre", tree_of(3, seed=31).root), ("run-b/pre", tree_of(3, seed=32).root)]
    receipts = anchor_batch(ours, members, b"manifest")
    for receipt, (_, root) in zip(receipts, members):
        verdict = ours.verify(receipt, root)
        assert verdict.ok, verdict.detail
        assert verdict.facts["batch_root"] == receipt.location["batch_root"]
        assert verdict.facts["submitter"] == ours.signer_address
    # the attacker anchoring the same batch root does not make a forged member verify
    batch_root = bytes.fromhex(receipts[0].location["batch_root"][2:])
    attacker.anchor(batch_root)
    ours.revoke(batch_root, "withdrawn")
    assert not ours.verify(receipts[0], members[0][1]).ok
    assert "revoked by" in ours.verify(receipts[0], members[0][1]).detail


def test_gas_settings_are_used_and_checked(anvil):
    backend = anvil_backend(anvil, 0, gas_limit=90_000, gas_price=3_000_000_000)
    receipt = backend.anchor(tree_of(5, seed=55).root)
    tx = backend.w3.eth.get_transaction(receipt.location["tx_hash"])
    assert (tx["gas"], tx["gasPrice"]) == (90_000, 3_000_000_000)
    auto = anvil_backend(anvil, 0, gas_price="auto")
    assert auto.gas_price is None and auto.anchor(tree_of(5, seed=56).root).state is AnchorState.CONFIRMED
    with pytest.raises(ConfigError, match="gas_price: expected \"auto\" or an integer \\(wei\\), found 'cheap'"):
        anvil_backend(anvil, 0, gas_price="cheap")
    with pytest.raises(ConfigError, match="gas_limit: expected 21000..30000000 or null, found 5"):
        anvil_backend(anvil, 0, gas_limit=5)


def test_signer_address_and_read_only_backend(anvil, monkeypatch):
    backend = anvil_backend(anvil, 2)
    assert backend.signer_address == backend.w3.eth.accounts[2]
    reader = ethereum.EthereumAnchor(backend.w3, backend.address, None)
    assert reader.signer_address is None
    assert reader.find_anchor(tree_of(2).root) is None
    receipt = backend.anchor(tree_of(4, seed=44).root)
    assert reader.verify(receipt, receipt.root).ok, "verification needs no signer"


def test_no_deploy_and_no_start_when_not_allowed(tmp_path, monkeypatch):
    """A read-only open of the local chain: the home's own running chain without a deployment is
    an error (no contract deployed); a chain that is not running is not started."""
    from provenance.anchors.ethereum import node as localchain
    from tests.support.anvil import free_port

    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path / "home"))  # no deployments file yet
    monkeypatch.setenv("PROVENANCE_LOCAL_CHAIN_PORT", str(free_port()))
    localchain.ensure_running()
    try:
        with pytest.raises(NotDeployedError, match="no MLProvenance deployment known for chain 31337"):
            ethereum.connect("local", allow_deploy=False)
        assert not (tmp_path / "home" / "deployments.json").exists()
        # `status` shows it as a state of the network, exit 0; it deploys nothing
        shown = cli("status", "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["networks"]["ethereum"] | {"error": ""} == {
            "network": "ethereum", "reachable": True, "deployed": False, "error": ""}
        text = cli("status")
        assert text.returncode == 0 and "ethereum  reachable, not deployed: no MLProvenance deployment known for chain 31337" in text.stdout
        assert not (tmp_path / "home" / "deployments.json").exists()
    finally:
        localchain.stop()
    with pytest.raises(AnchorError, match="is not running"):
        ethereum.connect("local", allow_start=False, request_timeout=2)
    assert localchain.state() == "absent"


def test_proof_files_check_on_chain_against_their_submitter_only(anvil):
    from dataclasses import replace as _replace

    from provenance.verification import proofs

    ours, attacker = anvil_backend(anvil, 0), anvil_backend(anvil, 6)
    tree = tree_of(11, seed=111)
    leaf = tree.values[4]
    receipt = ours.anchor(tree.root)
    step = proofs.Step("post", tree.root, leaf, tuple(tree.proof(4)))
    bundle = proofs.ProofBundle("run-x", (step,), (("post", receipt),), proofs.final_submitter((("post", receipt),), "post"))
    assert bundle.submitter == ours.signer_address
    assert proofs.ProofBundle.from_json(bundle.to_json()) == bundle

    results = proofs.check_on_network(bundle, anvil.url)
    assert results and all(ok for _, ok, _ in results), results
    assert ours.signer_address in results[0][2]

    # a file naming an account that never anchored the root fails, even if that root is anchored
    attacker_named = _replace(bundle, submitter=attacker.signer_address)
    assert not all(ok for _, ok, _ in proofs.check_on_network(attacker_named, anvil.url))
    # the attacker anchoring the root too does not change what ours-named files say ...
    attacker.anchor(tree.root)
    assert all(ok for _, ok, _ in proofs.check_on_network(bundle, anvil.url))
    # ... and a revoked anchor fails the check
    ours.revoke(tree.root, "withdrawn")
    results = proofs.check_on_network(bundle, anvil.url)
    assert not all(ok for _, ok, _ in results)
    assert f"has no live anchor by {ours.signer_address}" in results[-1][2]


def test_proof_file_through_a_batched_final_anchor(anvil):
    from provenance.verification import proofs

    ours = anvil_backend(anvil, 0)
    tree = tree_of(6, seed=222)
    receipts = anchor_batch(ours, [("run-y/post", tree.root), ("run-z/post", tree_of(2, seed=3).root)])
    step = proofs.Step("post", tree.root, tree.values[1], tuple(tree.proof(1)))
    bundle = proofs.ProofBundle("run-y", (step,), (("post", receipts[0]),), ours.signer_address)
    results = proofs.check_on_network(bundle, anvil.url)
    assert [ok for _, ok, _ in results] == [True] and "in batch" in results[0][2], results


def test_receipt_naming_a_contract_that_is_not_mlprovenance_cannot_verify(anvil):
    """An adversary controlling the run folder may name any contract, e.g. one of its own whose
    events and views say whatever it likes: only the packaged MLProvenance code is trusted."""
    backend = anvil_backend(anvil, 0)
    receipt = backend.anchor(tree_of(3, seed=303).root)
    impostor = "0x" + "42" * 20
    code = backend.w3.eth.get_code(backend.address).hex()
    anvil.rpc("anvil_setCode", impostor, "0x" + code.removeprefix("0x")[:-2] + "00")  # one byte changed
    forged = receipt.with_state(receipt.state, location=dict(receipt.location, contract=impostor))
    verdict = backend.verify(forged, receipt.root)
    assert not verdict.ok
    assert verdict.detail.startswith(f"cannot check: the contract at {Web3.to_checksum_address(impostor)} on chain 31337 is not this version of MLProvenance")
    with pytest.raises(AnchorError, match="is not this version of MLProvenance"):
        ethereum.connect(anvil.url, contract_address=impostor)
