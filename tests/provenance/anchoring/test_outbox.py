"""The durable outbox against a real anvil: node killed between submit and receipt, the process
SIGKILLed while anchoring, a reorg dropping the anchoring block. In each case, after the fault
and `provenance anchor --retry`, every anchor is confirmed exactly once and verification passes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from web3 import Web3

from provenance.anchoring import Anchors
from provenance.anchors.ethereum import backend as ethereum
from provenance.record.receipts import AnchorState
from provenance.config import load_config
from provenance.anchors.ethereum.keys import NodeSigner
from provenance.anchoring.delivery import deliver
from provenance.anchoring.outbox import Outbox
from tests.support.anvil import AnvilNode
from tests.support.cli import cli



def anchors_for(node: AnvilNode, outbox: Outbox, receipt_timeout: float = 60.0) -> Anchors:
    config = load_config({"blockchain": {"ethereum": {"network": node.url, "receipt_timeout": receipt_timeout}}}, environ={})
    return Anchors(config, outbox=outbox)


def anchored_events(node: AnvilNode, root: bytes) -> int:
    backend = ethereum.connect(node.url)
    logs = backend.contract.events.RootAnchored().get_logs(from_block=0, argument_filters={"root": root})
    return len(logs)


def sent_transactions(node: AnvilNode) -> int:
    return int(node.rpc("eth_getTransactionCount", Web3.to_checksum_address(node.rpc("eth_accounts")[0]), "latest"), 16)


def test_already_anchored_root_is_confirmed_without_resending(anvil, tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    backend = ethereum.connect(anvil.url)
    root = os.urandom(32)
    first = backend.anchor(root)
    entry = outbox.enqueue("r", tmp_path, "pre", "ethereum", root, bytes(32), b"{}")
    before = sent_transactions(anvil)
    done = deliver(outbox, entry, backend)
    assert done.state is AnchorState.CONFIRMED
    assert done.receipt.location["tx_hash"] == first.location["tx_hash"]
    assert sent_transactions(anvil) == before


def test_node_down_then_back(tmp_path):
    """The node is down for the whole anchoring; the entry stays pending with backoff; once the
    node is back, a retry confirms it once."""
    node = AnvilNode(tmp_path / "anvil")
    outbox = Outbox(tmp_path / "outbox.sqlite")
    anchors = anchors_for(node, outbox)
    root = os.urandom(32)
    entry = outbox.enqueue("r", tmp_path, "pre", "ethereum", root, bytes(32), b"{}")
    entry = anchors._deliver(entry)
    assert entry.state is AnchorState.PENDING and entry.attempts == 1
    assert "connection refused" in entry.last_error and entry.next_attempt > time.time()
    assert outbox.due() == []  # backing off
    node.start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.url))
        ethereum.deploy(w3, NodeSigner(w3.eth.accounts[0]), network="test anvil")
        [done] = anchors_for(node, outbox).retry(force=True)
        assert done.state is AnchorState.CONFIRMED
        assert anchored_events(node, root) == 1
    finally:
        node.stop()


def test_node_killed_between_submit_and_receipt(anvil, tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    anvil.rpc("evm_setAutomine", False)  # the transaction waits in the mempool ...
    root = os.urandom(32)
    entry = outbox.enqueue("r", tmp_path, "pre", "ethereum", root, bytes(32), b"{}")
    entry = anchors_for(anvil, outbox, receipt_timeout=1)._deliver(entry)
    assert entry.state is AnchorState.SUBMITTED and entry.receipt.location["tx_hash"]
    anvil.kill()  # ... and the node dies with it (SIGKILL: the mempool is lost)
    anvil.start()
    assert anvil.rpc("eth_getTransactionByHash", entry.receipt.location["tx_hash"]) is None
    [done] = anchors_for(anvil, outbox).retry(force=True)
    assert done.state is AnchorState.CONFIRMED
    # re-sent (the same transaction again: same nonce, deterministic signature) and mined once
    assert anvil.rpc("eth_getTransactionReceipt", done.receipt.location["tx_hash"])["status"] == "0x1"
    assert anchored_events(anvil, root) == 1


def test_reorg_dropping_the_anchor_is_detected_and_resent(anvil, tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    snapshot = anvil.rpc("evm_snapshot")
    root = os.urandom(32)
    entry = outbox.enqueue("r", tmp_path, "pre", "ethereum", root, bytes(32), b"{}")
    anchors = anchors_for(anvil, outbox)
    entry = anchors._deliver(entry)
    assert entry.state is AnchorState.CONFIRMED
    backend = ethereum.connect(anvil.url)
    assert backend.verify(entry.receipt, root).ok
    anvil.rpc("evm_revert", snapshot)  # the anchoring block is gone
    anvil.rpc("evm_mine")
    verdict = backend.verify(entry.receipt, root)
    assert not verdict.ok and "not found" in verdict.detail
    [done] = anchors.retry(force=True) or [outbox.get(entry.id)]
    done = outbox.get(entry.id)
    assert done.state is AnchorState.CONFIRMED
    assert backend.verify(done.receipt, root).ok
    assert anchored_events(anvil, root) == 1


def test_confirmations_required(anvil, tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    config = load_config({"blockchain": {"ethereum": {"network": anvil.url, "confirmations": 3}}}, environ={})
    anchors = Anchors(config, outbox=outbox)
    root = os.urandom(32)
    entry = anchors._deliver(outbox.enqueue("r", tmp_path, "pre", "ethereum", root, bytes(32), b"{}"))
    assert entry.state is AnchorState.SUBMITTED and entry.receipt.confirmations == 1
    assert not anchors.backend("ethereum").verify(entry.receipt, root).ok
    anvil.rpc("anvil_mine", "0x2")
    [done] = anchors.retry(force=True)
    assert done.state is AnchorState.CONFIRMED and done.receipt.confirmations == 3


SCRIPT = """
import sys
from provenance.anchoring import Anchors
from provenance.config import load_config
from provenance.anchoring.outbox import Outbox
outbox = Outbox(sys.argv[2])
config = load_config({"blockchain": {"ethereum": {"network": sys.argv[1], "receipt_timeout": 120}}}, environ={})
entry = outbox.enqueue("killed", sys.argv[3], "pre", "ethereum", bytes.fromhex(sys.argv[4]), bytes(32), b"{}")
print("queued", flush=True)
Anchors(config, outbox=outbox)._deliver(entry)
"""


def test_process_sigkilled_while_anchoring(anvil, tmp_path):
    anvil.rpc("evm_setAutomine", False)  # the anchoring process will sit waiting for its receipt
    root = os.urandom(32)
    db = tmp_path / "outbox.sqlite"
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, anvil.url, str(db), str(tmp_path), root.hex()], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "queued"
    deadline = time.monotonic() + 30
    while not anvil.rpc("eth_getBlockByNumber", "pending", False)["transactions"]:
        assert time.monotonic() < deadline, "the transaction never reached the node"
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    anvil.rpc("evm_setAutomine", True)
    anvil.rpc("evm_mine")
    outbox = Outbox(db)
    [entry] = outbox.entries()
    assert entry.state is AnchorState.PENDING  # killed before the receipt was stored
    [done] = anchors_for(anvil, outbox).retry(force=True)
    assert done.state is AnchorState.CONFIRMED
    assert anchored_events(anvil, root) == 1
    assert sent_transactions(anvil) == 2  # the deployment and the one anchor: nothing re-sent


ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil's first dev account


def test_cli_retry_updates_the_run_record(trained_run, tmp_path, anvil, monkeypatch):
    """A run anchored while its network was down is completed by `provenance anchor --retry`.
    With the node down, the key in the environment names the account the pre tree commits to."""

    from provenance.training import TrainOptions, run_training

    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEY_0)  # inherited by the CLI processes below

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"blockchain": {"ethereum": {"network": "http://127.0.0.1:9", "request_timeout": 1}}}))
    result = run_training(TrainOptions(epochs=1, base_dir=str(tmp_path / "runs"), run_id="offline-run", config=str(config)))
    assert not result.verification["ok"]
    assert {r["state"] for r in result.receipts.values()} == {"pending"}
    # the network is back (at a new address): point the config at it and retry
    config.write_text(json.dumps({"blockchain": {"ethereum": {"network": anvil.url}}}))
    done = cli("anchor", str(result.run_dir), "--retry", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    assert {v["state"] for v in json.loads(done.stdout).values()} == {"confirmed"}
    verified = cli("verify", str(result.run_dir), "--config", str(config), "--json")
    assert verified.returncode == 0, verified.stdout


def test_entries_keep_their_destination_across_configurations(anvil, tmp_path):
    """An entry sent to one contract is never sent to, nor re-checked against, another one on the
    same chain, whatever the configuration says later; unsent entries bind on their first send."""
    outbox = Outbox(tmp_path / "outbox.sqlite")
    first = anchors_for(anvil, outbox)
    sent = first._deliver(outbox.enqueue("r", tmp_path, "pre", "ethereum", os.urandom(32), bytes(32), b"{}"))
    backend = first.backend("ethereum")
    assert sent.state is AnchorState.CONFIRMED
    assert sent.destination == f"ethereum:{backend.chain_id}:{backend.address}"
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    other = ethereum.deploy(w3, NodeSigner(w3.eth.accounts[0]), network="test anvil")  # a second contract
    config = load_config({"blockchain": {"ethereum": {"network": anvil.url, "contract_address": other.address}}}, environ={})
    elsewhere = Anchors(config, outbox=outbox)
    before = sent_transactions(anvil)
    assert elsewhere.retry(force=True) == []  # the confirmed entry: not re-checked against the other contract, not reopened
    assert outbox.get(sent.id).state is AnchorState.CONFIRMED
    refused = deliver(outbox, outbox.get(sent.id), elsewhere.backend("ethereum"))
    assert refused.state is AnchorState.CONFIRMED and sent_transactions(anvil) == before
    pending = outbox.enqueue("r", tmp_path, "epoch-1", "ethereum", os.urandom(32), bytes(32), b"{}")
    bound = outbox.bind(pending, sent.destination)  # e.g. a transaction signed for the first contract
    kept = deliver(outbox, bound, elsewhere.backend("ethereum"))
    assert kept.state is AnchorState.PENDING and sent_transactions(anvil) == before
    assert kept.last_error == f"queued for {sent.destination}; this configuration sends to ethereum:{backend.chain_id}:{other.address}: not sent"


def test_outbox_schema_is_versioned_and_old_files_are_migrated(tmp_path):
    import sqlite3

    from provenance.errors import ConfigError, FormatError
    from provenance.anchoring.outbox import SCHEMA_VERSION

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE entries (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, run_dir TEXT NOT NULL, stage TEXT NOT NULL, "
        "network TEXT NOT NULL, root TEXT NOT NULL, prev_root TEXT NOT NULL, payload BLOB NOT NULL, state TEXT NOT NULL, "
        "attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL DEFAULT 0, last_error TEXT, receipt TEXT, "
        "created REAL NOT NULL, updated REAL NOT NULL, UNIQUE (run_id, stage, network, root));"
    )
    receipt = {"network": "ethereum", "root": "0x" + "ab" * 32, "state": "confirmed",
               "location": {"chain_id": 31337, "contract": "0x5fbdb2315678afecb367f032d93f642f64180aa3", "tx_hash": "0x" + "cd" * 32}}
    db.execute("INSERT INTO entries (run_id, run_dir, stage, network, root, prev_root, payload, state, receipt, created, updated) "
               "VALUES ('r', '/x', 'pre', 'ethereum', ?, ?, x'7b7d', 'confirmed', ?, 0, 0)", ("ab" * 32, "00" * 32, json.dumps(receipt)))
    db.commit()
    db.close()
    [entry] = Outbox(path).entries()  # migrated in place: batches, target and destination added
    assert entry.destination == "ethereum:31337:0x5FbDB2315678afecb367f032d93F642f64180aa3"
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match=f"expected schema version {SCHEMA_VERSION} or older, found {SCHEMA_VERSION + 1}"):
        Outbox(path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(FormatError, match="expected a provenance outbox \\(SQLite\\), found a file SQLite cannot use"):
        Outbox(junk)
