"""The original system's default, an IPFS-only run (and the other run without an identity, a
Bitcoin-only one), made through the guide's API and verified in a fresh process: everything that
can be checked is (artifacts, roots, the chain of trees, the CID's bytes, the OP_RETURN payload
and its confirmations), and the verdict names what such a run cannot prove (who anchored it;
when, for IPFS). A flipped byte fails naming its leaf."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from provenance import ProvenanceTracker
from provenance.verification.scope import WHEN, WHO

from .test_guide_examples import HERE, verify_in_fresh_process

sys.path.insert(0, str(HERE))
from glue import model, test_data, train_data


def guided_run(folder: Path, config: dict, after_pre=lambda: None) -> Path:
    """The guide's "Usage Examples" with `config`, returning the run folder."""
    provenance_tracker = ProvenanceTracker(base_dir=str(folder / "artifacts"), config=config)
    provenance_tracker.track_data(train_data, test_data)
    provenance_tracker.track_model(model)
    provenance_tracker.store_merkle_on_blockchain_before_training({"epochs": 5, "batch_size": 32})
    after_pre()
    provenance_tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.95, "loss": 0.1})
    provenance_tracker.save()
    run = provenance_tracker.run_dir
    provenance_tracker.close()
    return run


def verify_and_tamper(run: Path, config_path: Path, network: str) -> dict:
    verified = verify_in_fresh_process(run, config_path)
    report = json.loads(verified.stdout)
    assert verified.returncode == 0, [c for c in report["checks"] if not c["ok"]]
    assert report["verdict"] == "PASSED" and report["identity"] is None and report["submitters"] == {}
    checked = {c["name"] for c in report["checks"] if c["ok"]}
    assert {"tree pre", "tree post", "chain post", "anchor pre " + network, "anchor post " + network, "scope"} <= checked
    assert WHO in report["not_proven"]
    model_file = run / "model.safetensors"
    data = bytearray(model_file.read_bytes())
    data[-1] ^= 0x01
    model_file.write_bytes(bytes(data))
    tampered = verify_in_fresh_process(run, config_path)
    assert tampered.returncode == 1
    assert "model.file:model.safetensors in tree 'post' changed" in [c["description"] for c in json.loads(tampered.stdout)["changes"]]
    return report


def test_ipfs_only_run_verifies_and_says_what_it_cannot_prove(tmp_path, ipfs_node):
    # the guide's "Custom blockchain configuration", pointed at the test's node
    config = {"blockchain": {"networks": ["ipfs"], "ipfs": {"url": ipfs_node.url}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    report = verify_and_tamper(guided_run(tmp_path, config), tmp_path / "config.json", "ipfs")
    assert report["not_proven"] == [WHO, WHEN]
    assert {c["name"] for c in report["checks"]} >= {"ipfs record of pre is this record's snapshot",
                                                     "ipfs record of post is this record's snapshot"}


def test_bitcoin_only_run_verifies_and_says_what_it_cannot_prove(tmp_path, bitcoin_node, monkeypatch):
    monkeypatch.setenv("BITCOIN_RPC_COOKIE", str(bitcoin_node.cookie_file))
    config = {"blockchain": {"networks": ["bitcoin"], "bitcoin": {"rpc_url": bitcoin_node.url, "chain": "regtest"}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    run = guided_run(tmp_path, config, after_pre=lambda: bitcoin_node.mine(1))
    bitcoin_node.mine(1)
    tracker = ProvenanceTracker.load(run, config)
    tracker.anchor_pending()
    tracker.close()
    report = verify_and_tamper(run, tmp_path / "config.json", "bitcoin")
    assert report["not_proven"] == [WHO]
    assert all(a["network"] == "bitcoin" and a["ok"] for a in report["anchors"])
