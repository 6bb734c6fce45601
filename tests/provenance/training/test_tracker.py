"""The ProvenanceTracker API of the original system, method by method, on in-memory data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from provenance import ProvenanceTracker
from provenance.record.receipts import AnchorState
from provenance.errors import ConfigError, ProvenanceError

CONFIG = {"storage_options": {"store_epoch_checkpoints": True}}


def data(seed: int = 0, n: int = 40):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, n)


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))


@pytest.fixture
def tracker(tmp_path):
    return ProvenanceTracker(tmp_path / "artifacts", CONFIG, run_id="api-run")


def test_seed_api_end_to_end(tracker, tmp_path):
    train, test = data(0), data(1, 10)
    net = model()
    assert tracker.track_data(train, test) == {"train_samples": 40, "test_samples": 10}
    assert tracker.track_model(net)["tensors"] == 2

    before = tracker.store_merkle_on_blockchain_before_training({"lr": 0.1, "epochs": 2})
    assert set(before) == {"ethereum"} and before["ethereum"].state is AnchorState.CONFIRMED

    for epoch in (1, 2):
        with torch.no_grad():
            net[1].weight.add_(0.01)
        root = tracker.track_epoch(epoch, net, {"loss": 1.0 / epoch})
        assert root is not None and root == tracker.record.stage(f"epoch-{epoch}").root

    after = tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.5})
    assert after["ethereum"].state is AnchorState.CONFIRMED

    status = tracker.get_blockchain_status()
    assert status["blockchain_enabled"] is True
    assert [h["stage"] for h in status["stored_hashes"]] == ["pre", "epoch-1", "epoch-2", "post"]
    assert all(h["anchors"]["ethereum"]["state"] == "confirmed" for h in status["stored_hashes"])

    report = tracker.verify_blockchain_provenance()
    assert report["ok"] and report["chain_integrity"], [c for c in report["checks"] if not c["ok"]]

    path = tracker.save_blockchain_report()
    assert json.loads(path.read_text())["verification"]["ok"]
    assert "PASSED" in path.with_suffix(".md").read_text()
    saved = json.loads(tracker.save().read_text())
    assert saved["format"] == "provenance-record/v2" and len(saved["receipts"]) == 4


def test_tampered_in_memory_sample_is_named(tracker):
    train, test = data(0), data(1, 10)
    tracker.track_data(train, test)
    tracker.track_model(model())
    tracker.store_merkle_on_blockchain_before_training({"lr": 0.1})
    tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.1})
    train[0][7, 0, 3, 3] += 1.0  # the caller's array is what verification re-hashes
    report = tracker.verify_blockchain_provenance()
    assert not report["ok"]
    assert [c["description"] for c in report["changes"]] == ["data.sample:train/000007 in tree 'pre' changed"]


def test_epoch_checkpoints_off_gives_no_epoch_trees(tmp_path):
    tracker = ProvenanceTracker(tmp_path, {"storage_options": {"store_epoch_checkpoints": False}}, run_id="r")
    tracker.track_data(data(0), None)
    tracker.track_model(model())
    tracker.store_merkle_on_blockchain_before_training({})
    assert tracker.track_epoch(1, metrics={"loss": 2.0}) is None
    tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.1})
    assert [s.name for s in tracker.record.stages] == ["pre", "post"]
    assert tracker.record.stage("post").metrics["history"] == [{"loss": 2.0, "epoch": 1}]
    assert tracker.verify_blockchain_provenance()["ok"]


def test_blockchain_disabled_anchors_nothing_and_says_so(tmp_path):
    tracker = ProvenanceTracker(tmp_path, {"blockchain": {"enabled": False}}, run_id="off")
    tracker.track_data(data(0), None)
    tracker.track_model(model())
    assert tracker.store_merkle_on_blockchain_before_training({}) == {}
    assert tracker.store_merkle_on_blockchain_after_training({}) == {}
    assert tracker.get_blockchain_status()["blockchain_enabled"] is False
    report = tracker.verify_blockchain_provenance()
    assert not report["ok"]
    assert any(c["name"] == "final root anchored" and not c["ok"] for c in report["checks"])


def test_unreachable_network_leaves_pending_receipts_and_keeps_results(tmp_path):
    config = {"blockchain": {"ethereum": {"network": "http://127.0.0.1:9", "request_timeout": 2}}}
    tracker = ProvenanceTracker(tmp_path, config, run_id="down")
    tracker.track_data(data(0), None)
    tracker.track_model(model())
    receipt = tracker.store_merkle_on_blockchain_before_training({"lr": 1})["ethereum"]
    assert receipt.state is AnchorState.PENDING
    assert receipt.location == {} and "connection refused" in receipt.reason
    tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.9})
    saved = json.loads((tmp_path / "down" / "record.json").read_text())
    assert [s["name"] for s in saved["stages"]] == ["pre", "post"]
    assert {r["state"] for r in saved["receipts"]} == {"pending"}
    report = tracker.verify_blockchain_provenance()
    assert not report["ok"]
    assert any("pending, not anchored yet" in c["detail"] for c in report["checks"])


def test_order_of_calls_is_checked(tmp_path):
    tracker = ProvenanceTracker(tmp_path, CONFIG, run_id="order")
    with pytest.raises(ProvenanceError, match="expected track_data"):
        tracker.store_merkle_on_blockchain_before_training({})
    with pytest.raises(ProvenanceError, match="expected store_merkle_on_blockchain_before_training"):
        tracker.store_merkle_on_blockchain_after_training({}, model=model())


def test_config_with_a_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="looks like a secret; keys belong in ETH_PRIVATE_KEY"):
        ProvenanceTracker(tmp_path, {"blockchain": {"ethereum": {"private_key": "0x" + "11" * 32}}})


def test_loaded_run_verifies_without_rewriting_the_record(trained_run):
    path = trained_run.run_dir / "record.json"
    before = path.read_bytes(), path.stat().st_mtime_ns
    tracker = ProvenanceTracker.load(trained_run.run_dir)
    assert tracker.verify_blockchain_provenance()["ok"]
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
