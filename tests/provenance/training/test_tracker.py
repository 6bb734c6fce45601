"""The ProvenanceTracker API of the original system, method by method, on in-memory data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from provenance import ProvenanceTracker
from provenance.record.receipts import AnchorState
from eth_account import Account

from provenance.errors import AnchorError, ConfigError, ProvenanceError

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


def test_unreachable_network_leaves_pending_receipts_and_keeps_results(tmp_path, monkeypatch):
    config = {"blockchain": {"ethereum": {"network": "http://127.0.0.1:9", "request_timeout": 2}}}
    # With the node down, only a key in the environment can say who will anchor: without one the
    # pre tree cannot commit to its identity, and nothing is written.
    monkeypatch.delenv("ETH_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("PROVENANCE_ETH_ACCOUNT", raising=False)
    refused = ProvenanceTracker(tmp_path, config, run_id="down")
    refused.track_data(data(0), None)
    with pytest.raises(AnchorError, match="cannot tell which Ethereum account will anchor this run"):
        refused.store_merkle_on_blockchain_before_training({"lr": 1})
    assert sorted(p.name for p in (tmp_path / "down").iterdir()) == [".lock"]
    refused.close()
    account = Account.from_key("0x" + "42" * 32)
    monkeypatch.setenv("ETH_PRIVATE_KEY", account.key.hex())
    tracker = ProvenanceTracker(tmp_path, config, run_id="down")
    tracker.track_data(data(0), None)
    tracker.track_model(model())
    before = tracker.store_merkle_on_blockchain_before_training({"lr": 1})
    assert not before  # nothing reached a network: the guide's `if transactions:` is false
    receipt = before["ethereum"]
    assert tracker.record.stage("pre").identities() == [account.address]
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


def test_config_file_with_a_key_is_refused(tmp_path):
    """A key in a config *file* is refused (a dict in memory may carry one: the guide's pattern)."""
    path = tmp_path / "blockchain_config.json"
    path.write_text(json.dumps({"blockchain": {"ethereum": {"private_key": "0x" + "11" * 32}}}))
    with pytest.raises(ConfigError, match="expected no private key in a config file"):
        ProvenanceTracker(tmp_path, path)


def test_run_id_that_is_a_key_is_refused_without_echoing_it(tmp_path):
    key = "ab" * 32
    with pytest.raises(ConfigError) as refused:
        ProvenanceTracker(tmp_path, run_id=key)
    assert key not in str(refused.value)
    assert not any(tmp_path.iterdir())


def test_loaded_run_verifies_without_rewriting_the_record(trained_run):
    path = trained_run.run_dir / "record.json"
    before = path.read_bytes(), path.stat().st_mtime_ns
    tracker = ProvenanceTracker.load(trained_run.run_dir)
    assert tracker.verify_blockchain_provenance()["ok"]
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_repeated_before_training_call_is_refused_before_anything_is_written(tracker):
    tracker.track_data(data(0), None)
    tracker.track_model(model())
    first = tracker.store_merkle_on_blockchain_before_training({"lr": 0.1})
    assert first and first.states == {"ethereum": "confirmed"}  # reached its network: true
    files = {p: p.read_bytes() for p in tracker.run_dir.rglob("*") if p.is_file()}
    with pytest.raises(ProvenanceError, match="expected one call per run, found the pre-training tree already built"):
        tracker.store_merkle_on_blockchain_before_training({"lr": 0.2, "note": "second call"})
    assert {p: p.read_bytes() for p in tracker.run_dir.rglob("*") if p.is_file()} == files
    assert [s.name for s in tracker.record.stages] == ["pre"]


def test_identical_runs_never_share_a_root(tmp_path):
    roots = []
    for run_id in ("same-a", "same-b"):
        t = ProvenanceTracker(tmp_path, {"blockchain": {"enabled": False}}, run_id=run_id)
        t.track_data(data(0), None)
        t.track_model(model())
        t.store_merkle_on_blockchain_before_training({"lr": 0.1})
        nonce = [leaf for leaf in t.record.stage("pre").leaves if leaf.kind == "run.nonce"]
        assert len(nonce) == 1 and nonce[0].size == 32
        roots.append(t.record.stage("pre").root)
    assert roots[0] != roots[1]


@pytest.mark.parametrize("run_id", ["../../x", "/tmp/abs", "a/b", "a\\b", "..", ".", "", "x" * 129, "a\x00b"])
def test_run_ids_that_leave_the_base_dir_are_refused(tmp_path, run_id):
    base = tmp_path / "base"
    with pytest.raises(ProvenanceError, match="run id: expected 1-128 letters"):
        ProvenanceTracker(base, CONFIG, run_id=run_id)
    assert not any(tmp_path.iterdir())  # nothing written anywhere


def test_same_run_id_twice_at_once_and_existing_runs_are_refused(tmp_path):
    first = ProvenanceTracker(tmp_path, CONFIG, run_id="busy")
    with pytest.raises(ConfigError, match="expected a run id not in use, found .* held by another training"):
        ProvenanceTracker(tmp_path, CONFIG, run_id="busy")
    first.track_data(data(0), None)
    first.track_model(model())
    first.store_merkle_on_blockchain_before_training({"lr": 0.1})
    first.close()
    record = (tmp_path / "busy" / "record.json").read_bytes()
    with pytest.raises(ConfigError, match="expected a new run id, found .* already holding a record"):
        ProvenanceTracker(tmp_path, CONFIG, run_id="busy")
    assert (tmp_path / "busy" / "record.json").read_bytes() == record
    (tmp_path / "busy" / "record.json").unlink()  # a crash before the record was saved: the outbox still knows
    with pytest.raises(ConfigError, match="already holding anchors in the outbox \\(pre; see `provenance recover`\\)"):
        ProvenanceTracker(tmp_path, CONFIG, run_id="busy")
