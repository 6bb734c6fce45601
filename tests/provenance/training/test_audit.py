"""Proof of training without a chain: the trail leaves the training unchanged, the draw, the
tracker API's refusals and the state files' bounded reads (the attacks are in
tests/security/test_proof_of_training.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from provenance import ProvenanceTracker
from provenance.digests import models, train_state
from provenance.digests.hashing import state_dict_leaves
from provenance.errors import ConfigError, FormatError, ProvenanceError
from provenance.training import TrainOptions, run_training
from provenance.training.audit import draw, draw_seed, seed_from_int

OFF = {"blockchain": {"enabled": False}, "storage_options": {"store_epoch_checkpoints": True}}


def test_provenance_on_and_off_give_the_same_final_weights(tmp_path):
    """Committing order, RNG and optimizer state reads them, never draws: same seed, same digests."""
    common = dict(epochs=1, base_dir=str(tmp_path), config=OFF, verify=False)
    off = run_training(TrainOptions(provenance=False, **common))
    on = run_training(TrainOptions(audit_every=7, **common))
    assert state_dict_leaves(on.weights) == state_dict_leaves(off.weights)
    files = sorted(p.name for p in (on.run_dir / "audit").iterdir())
    assert files == ["e001-s000000.safetensors", "e001-s000007.safetensors", "e001-s000014.safetensors",
                     "e001-s000021.safetensors", "e001-s000023.safetensors", "epoch-001.safetensors"]
    record = (on.run_dir / "record.json").read_text()
    assert '"audit_bytes"' in record and '"provenance-replay/v1"' in record


def test_the_draw_is_a_function_of_the_seed_and_picks_distinct_segments():
    seed = draw_seed(bytes(range(32)), bytes(32))
    assert draw(seed, 10, 3) == draw(seed, 10, 3) and len(set(draw(seed, 10, 3))) == 3
    assert draw(seed, 10, 5) != draw(draw_seed(bytes(range(1, 33)), bytes(32)), 10, 5)  # another block: another draw
    assert draw(seed, 4, 9) == [0, 1, 2, 3]  # more asked than there are: all of them
    with pytest.raises(FormatError):
        seed_from_int(-1)


def test_every_segment_is_drawn_about_equally_often():
    counts = np.bincount([i for s in range(300) for i in draw(seed_from_int(s), 6, 2)], minlength=6)
    assert counts.min() > 60 and counts.max() < 140  # 100 expected each


def test_tracker_api_refuses_steps_out_of_order(tmp_path):
    tracker = ProvenanceTracker(tmp_path, OFF, run_id="api")
    model = torch.nn.Linear(4, 2)
    with pytest.raises(ProvenanceError, match="track_model"):
        tracker.track_optimizer(torch.optim.SGD(model.parameters(), lr=0.1), step="mine", batch_size=2)
    tracker.track_model(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="audit_every: expected a positive number of steps, found 0"):
        tracker.track_optimizer(optimizer, step="mine", batch_size=2, audit_every=0)
    tracker.track_optimizer(optimizer, step="mine", batch_size=2)
    with pytest.raises(ProvenanceError, match="track_batch_order"):
        tracker.track_step()
    with pytest.raises(ConfigError, match="integer sample indices"):
        tracker.track_batch_order(np.array([0.5, 1.5]))
    tracker.close()


def test_proof_of_training_needs_epoch_trees(tmp_path):
    tracker = ProvenanceTracker(tmp_path, {"blockchain": {"enabled": False}, "storage_options": {"store_epoch_checkpoints": False}}, run_id="no-epochs")
    model = torch.nn.Linear(4, 2)
    tracker.track_model(model)
    with pytest.raises(ConfigError, match="store_epoch_checkpoints on, found it off"):
        tracker.track_optimizer(torch.optim.SGD(model.parameters(), lr=0.1), step="mine", batch_size=2)
    tracker.close()


def test_state_files_are_read_bounded_and_never_through_a_symlink(tmp_path):
    (tmp_path / "audit").mkdir()
    leaves = train_state.write(tmp_path, train_state.STATE_KIND, "audit/e001-s000000.safetensors",
                               {"model/w": torch.ones(3)}, {"epoch": 1})
    leaf = leaves[0]
    assert train_state.rehash(tmp_path, leaf) == leaves
    with pytest.raises(FormatError, match="expected at most 10 bytes"):
        train_state.read_bounded(tmp_path, leaf.name, 10)
    with pytest.raises(FormatError, match="expected a name like audit/e001"):
        train_state.parse_state_name("audit/../../etc/passwd")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x")
    os.replace(tmp_path / leaf.name, tmp_path / "moved")
    os.symlink(outside, tmp_path / leaf.name)
    with pytest.raises(OSError):
        train_state.read_bounded(tmp_path, leaf.name, leaf.size)
    with pytest.raises(FormatError, match="not found|expected a readable"):
        train_state.rehash(tmp_path, leaf)
    with pytest.raises(FormatError, match="expected a provenance-train-state/v1 safetensors file"):
        train_state.decode("x", models.save_weights({"w": torch.ones(2)}, tmp_path / "plain.safetensors"))


def test_a_run_without_replay_material_cannot_be_audited(tmp_path):
    from provenance.training.audit import audit_run

    rng = np.random.default_rng(0)
    tracker = ProvenanceTracker(tmp_path, OFF, run_id="no-trail")
    tracker.track_data((rng.random((8, 4), dtype=np.float32), rng.integers(0, 2, 8)))
    tracker.track_model(torch.nn.Linear(4, 2))
    tracker.store_merkle_on_blockchain_before_training({"lr": 0.1})
    tracker.track_epoch(1, metrics={"loss": 1.0})
    tracker.store_merkle_on_blockchain_after_training({"epochs": 1})
    tracker.close()
    report = audit_run(tmp_path / "no-trail", segments=2, config=OFF)
    assert report.exit_code == 3 and report.verdict == "CANNOT CHECK"
    assert report.detail.startswith("the run commits no replay material")
