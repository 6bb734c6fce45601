"""The background path (`provenance train`'s): the pre anchor sent before the first step and
awaited beside training, epoch trees built and anchored by a background thread from a copy of
the weights. It must anchor exactly what the foreground path did, in the same chain order, and
a run killed while the background anchors must come back with `provenance recover`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import torch

from provenance.digests import datasets
from provenance.record import Record
from provenance.training.model import SmallCNN
from provenance.training.tracker import ProvenanceTracker, checkpoint_file
from tests.support.cli import ROOT, cli

EPOCHS = 3


def drive(base, run_id: str, background: bool) -> ProvenanceTracker:
    """A user's loop: digits, SmallCNN, weights that change every epoch (in place, right after
    each `track_epoch`, so a background thread that read the live weights would hash the wrong ones)."""
    torch.manual_seed(0)
    descriptor = datasets.digits_descriptor(0)
    train, test = datasets.load(descriptor)
    model = SmallCNN()
    tracker = ProvenanceTracker(base, None, run_id=run_id)
    tracker.track_data(train, test, source=descriptor)
    tracker.track_model(model)
    pre = tracker.store_merkle_on_blockchain_before_training({"epochs": EPOCHS}, wait=not background)
    assert pre  # sent (background) or confirmed (foreground): it reached the network before the first step
    for epoch in range(1, EPOCHS + 1):
        root = tracker.track_epoch(epoch, model, {"loss": 1.0 / epoch}, background=background)
        assert (root is None) == background
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(0.5).add_(0.125 * epoch)  # the next epoch's weights, at once
    tracker.store_merkle_on_blockchain_after_training({"test_accuracy": 0.5})
    return tracker


def blocks(record: Record) -> list[int]:
    return [record.receipts_for(s.name)["ethereum"].location["block_number"] for s in record.stages]


def test_background_path_anchors_what_the_foreground_path_anchored_in_chain_order(tmp_path):
    foreground = drive(tmp_path, "foreground", background=False)
    background = drive(tmp_path, "background", background=True)
    try:
        ours, theirs = (Record.load(t.run_dir / "record.json") for t in (background, foreground))
        assert [s.name for s in ours.stages] == ["pre", "epoch-1", "epoch-2", "epoch-3", "post"]
        # every leaf but the run's own (nonce, identity, chain links): data, weights, checkpoints, metrics
        assert [(s.name, s.content()) for s in ours.stages] == [(s.name, s.content()) for s in theirs.stages]
        assert [s.chain_leaf() and s.chain_leaf().name for s in ours.stages] == [None, "pre", "epoch-1", "epoch-2", "epoch-3"]
        for record in (ours, theirs):
            assert all(r.receipt.state.value == "confirmed" for r in record.receipts) and len(record.receipts) == 5
            assert blocks(record) == sorted(blocks(record))  # in chain order (epochs the background was behind on share a batch)
        assert len(set(blocks(theirs))) == 5  # the foreground path: one block each
        for stage in ours.stages[1:-1]:  # each checkpoint file is the weights of its epoch, not later ones
            name = checkpoint_file(int(stage.name.removeprefix("epoch-")))
            assert (background.run_dir / name).read_bytes() == (foreground.run_dir / name).read_bytes()
        report = background.verify_blockchain_provenance()
        assert report["ok"] and report["verdict"] == "PASSED", report
    finally:
        foreground.close()
        background.close()


def test_epochs_the_background_is_behind_on_go_out_in_one_batch_transaction(tmp_path, monkeypatch):
    """Three epochs queued while the background thread is held on the first: their roots go out
    together, in one transaction whose receipts each prove their root on-chain; pre and post have
    their own. A fresh process verifies the run."""
    import threading

    from provenance.digests import models

    release = threading.Event()
    save_weights = models.save_weights

    def held_first(state, path):
        if str(path).endswith(checkpoint_file(1)):
            assert release.wait(60)
        return save_weights(state, path)

    monkeypatch.setattr(models, "save_weights", held_first)
    torch.manual_seed(0)
    descriptor = datasets.digits_descriptor(0)
    train, test = datasets.load(descriptor)
    model = SmallCNN()
    tracker = ProvenanceTracker(tmp_path, None, run_id="behind")
    tracker.track_data(train, test, source=descriptor)
    tracker.track_model(model)
    tracker.store_merkle_on_blockchain_before_training({"epochs": EPOCHS}, wait=False)
    for epoch in range(1, EPOCHS + 1):
        tracker.track_epoch(epoch, model, {"loss": 1.0 / epoch}, background=True)
    release.set()
    tracker.store_merkle_on_blockchain_after_training({"test_accuracy": 0.5})
    tracker.close()
    record = Record.load(tracker.run_dir / "record.json")
    receipts = {s.name: record.receipts_for(s.name)["ethereum"] for s in record.stages}
    assert {r.state.value for r in receipts.values()} == {"confirmed"}
    epochs = [receipts[f"epoch-{i}"] for i in range(1, EPOCHS + 1)]
    assert len({r.location["tx_hash"] for r in epochs}) == 1 and all("batch_root" in r.location for r in epochs)
    assert len({r.location["tx_hash"] for r in receipts.values()}) == 3  # pre, the epochs' batch, post
    assert blocks(record) == sorted(blocks(record))
    verified = cli("verify", str(tracker.run_dir), "--json")
    report = json.loads(verified.stdout)
    assert verified.returncode == 0 and report["verdict"] == "PASSED", [c for c in report["checks"] if not c["ok"]]
    assert sum("in batch" in a["detail"] for a in report["anchors"]) == EPOCHS


def test_an_error_in_the_background_is_raised_by_the_next_call(tmp_path, monkeypatch):
    from provenance.digests import models

    torch.manual_seed(0)
    descriptor = datasets.digits_descriptor(0)
    train, test = datasets.load(descriptor)
    model = SmallCNN()
    tracker = ProvenanceTracker(tmp_path, {"blockchain": {"enabled": False}}, run_id="broken")
    tracker.track_data(train, test, source=descriptor)
    tracker.track_model(model)
    tracker.store_merkle_on_blockchain_before_training({"epochs": 2}, wait=False)

    def disk_full(state, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(models, "save_weights", disk_full)
    assert tracker.track_epoch(1, model, {"loss": 1.0}, background=True) is None
    with pytest.raises(OSError, match="No space left"):
        tracker.store_merkle_on_blockchain_after_training({"test_accuracy": 0.5})
    assert [s.name for s in tracker.record.stages] == ["pre"]  # no post tree over a missing epoch
    tracker.close()


def test_the_code_state_read_ahead_leaves_out_the_run_folder_being_written(tmp_path):
    """The git state is read in a thread while the run folder fills up: its files never count as
    untracked code, so the code leaves do not depend on that thread's timing."""
    import git

    from provenance.digests import context

    repo = git.Repo.init(tmp_path)
    (tmp_path / "train.py").write_text("print('train')\n")
    repo.index.add(["train.py"])
    repo.index.commit("train")
    (tmp_path / "notes.txt").write_text("untracked code\n")
    before = context.code_info(tmp_path, exclude=tmp_path / "artifacts" / "run")
    (tmp_path / "artifacts" / "run").mkdir(parents=True)
    (tmp_path / "artifacts" / "run" / "model_init.safetensors").write_bytes(b"weights")
    after = context.code_info(tmp_path, exclude=tmp_path / "artifacts" / "run")
    assert after == before and after["git"]["untracked_files"] == 1  # notes.txt, not the run's file
    assert context.code_info(tmp_path)["git"]["untracked_files"] == 2
