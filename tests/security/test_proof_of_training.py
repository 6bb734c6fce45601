"""Proof of training (`provenance audit`) against trainers who lie about how the model was made.

Every attack run here is made by the trainer itself through the tracker API: its data, config,
initial weights, epoch trees and final model are committed and anchored by the trainer's own
account on a real anvil, so today's `verify` PASSES each of them. Only the replay of chain-drawn
segments catches them. For each attack: the segments K the test needs, and what the audit says.

| attack | forged segments | K needed | caught by |
| --- | --- | --- | --- |
| trained on a subset of the committed data | all | 0 (structure) | the committed order is no permutation of the committed samples |
| a few committed samples replaced in training | all | 1 | replay on the committed samples: weights differ |
| an epoch skipped, its checkpoint interpolated | 2 of 3 | 2 | replay: weights differ |
| trained elsewhere, checkpoints made after the fact from the committed init | all | 1 | replay: weights differ |
| committed batch order differs from the order used | all | 1 | replay: weights differ |
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from web3 import Web3

from provenance.anchors.ethereum import backend as ethereum
from provenance.anchors.ethereum.keys import NodeSigner
from provenance.digests import datasets, models
from provenance.training import TrainOptions, run_training
from provenance.training.audit import audit_run
from provenance.training.model import SmallCNN
from provenance.training.replay import STEP_NAME
from provenance.training.tracker import ProvenanceTracker
from provenance.training.variants import Plain
from tests.support.anvil import AnvilNode
from tests.support.cli import cli

EPOCHS = 3  # the attacks' claimed runs
BATCH = 64


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """One anvil for the module (the runs are independent: each has its own run id)."""
    node = AnvilNode(tmp_path_factory.mktemp("anvil")).start()
    w3 = Web3(Web3.HTTPProvider(node.url))
    ethereum.deploy(w3, NodeSigner(w3.eth.accounts[0]), network="test anvil")
    yield node
    node.stop()


@pytest.fixture(scope="module")
def config(node, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "config.json"
    path.write_text(json.dumps({"blockchain": {"ethereum": {"network": node.url}}}))
    return path


@pytest.fixture(scope="module")
def honest(config, tmp_path_factory):
    """Our job, 2 epochs, a state every 10 steps (23 steps an epoch: 6 segments)."""
    base = tmp_path_factory.mktemp("runs")
    result = run_training(TrainOptions(epochs=2, base_dir=str(base), run_id="honest", config=str(config), audit_every=10))
    assert result.verification["ok"]
    return result.run_dir


def audit(run_dir: Path, config: Path, k: int, **kw):
    return audit_run(run_dir, segments=k, config=str(config), **kw)


# ---------------------------------------------------------------- the honest run


def test_honest_job_audits_in_a_fresh_process(honest, config):
    done = cli("audit", str(honest), "--segments", "2", "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "audit AUDITED: 2 of 6 segments replayed and reproduced" in done.stdout
    assert "keccak256(hash of block" in done.stdout and "bit-exact" in done.stdout
    drawn = [int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("  segment ")]
    report = audit(honest, config, 2).to_json()  # the draw is the chain's: the same run draws the same segments
    assert report["verdict"] == "AUDITED" and report["drawn"] == drawn and report["escape_probability"] == "(1-f)^2"


def test_every_segment_of_the_honest_run_replays_bit_exact_and_within_a_forced_tolerance(honest, config):
    report = audit(honest, config, 100, seed=7)
    assert report.verdict == "AUDITED" and len(report.drawn) == report.segments_total == 6, report.detail
    assert all(r.distance == 0.0 and r.mode == "exact" for r in report.results)
    forced = audit(honest, config, 2, seed=1, tolerance=1e-6)  # what a verifier on other hardware runs
    assert forced.verdict == "AUDITED" and {r.mode for r in forced.results} == {"tolerance"}


def test_a_state_file_changed_after_anchoring_fails_before_any_replay(honest, config, tmp_path):
    run = Path(shutil.copytree(honest, tmp_path / "honest"))
    state = run / "audit" / "e002-s000010.safetensors"
    data = bytearray(state.read_bytes())
    data[-1] ^= 1
    state.write_bytes(bytes(data))
    report = audit(run, config, 6)
    assert report.verdict == "FAILED" and report.verification == "FAILED"
    assert "train.state" in report.detail


def test_absent_state_files_cannot_be_checked(honest, config, tmp_path):
    run = Path(shutil.copytree(honest, tmp_path / "honest"))
    (run / "audit" / "e002-s000020.safetensors").unlink()
    report = audit(run, config, 1)
    assert report.exit_code == 3 and report.verdict == "CANNOT CHECK"
    assert report.detail == "1 committed replay files are absent from the run folder (audit/e002-s000020.safetensors): supply them"


def test_a_recovered_run_keeps_each_stages_replay_settings_and_audits(config, tmp_path):
    """A process killed after training, before the record with its epoch trees was saved:
    `provenance recover` rebuilds record.json from the outbox's snapshots, which carry each
    epoch's replay settings (what the audit reads them from), so the recovered run audits."""
    from provenance.record import Record

    run = run_training(TrainOptions(epochs=2, base_dir=str(tmp_path), run_id="recovered", config=str(config))).run_dir
    path = run / "record.json"
    full = Record.load(path)
    replay = {name: stage["replay"] for name, stage in full.artifacts["stages"].items() if "replay" in stage}
    assert sorted(replay) == ["epoch-1", "epoch-2"]
    Record.from_snapshot(full.snapshot_bytes("pre")).save(path)  # as a crash after the pre tree leaves it
    assert audit(run, config, 1).verdict == "CANNOT CHECK"  # the record alone no longer holds the epochs

    done = cli("recover", str(run), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["recovered"] == ["epoch-1", "epoch-2", "post"]
    recovered = Record.load(path)
    assert {name: recovered.artifacts["stages"][name]["replay"] for name in replay} == replay
    report = audit(run, config, 2)
    assert (report.verification, report.verdict) == ("PASSED", "AUDITED"), report.detail


# ---------------------------------------------------------------- the attacks


class Trainer:
    """A trainer using the tracker API with our step (SmallCNN, Adam, `Plain.steps`), free to lie."""

    def __init__(self, base: Path, config: Path, run_id: str) -> None:
        torch.manual_seed(0)
        torch.use_deterministic_algorithms(True)
        self.descriptor = datasets.digits_descriptor(0)
        (self.x, self.y), test = datasets.load(self.descriptor)
        self.model = SmallCNN()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.tracker = ProvenanceTracker(base, str(config), run_id=run_id)
        self.tracker.track_data((self.x, self.y), test, source=self.descriptor)  # the committed data
        self.tracker.track_model(self.model)
        self.tracker.store_merkle_on_blockchain_before_training(TrainOptions(epochs=EPOCHS).training_config(self.descriptor))
        self.tracker.track_optimizer(self.optimizer, step=STEP_NAME, batch_size=BATCH, sampler_seed=0)
        self.generator = torch.Generator().manual_seed(0)
        self.epoch = 0

    def train_epoch(self, x=None, y=None, committed_order=None, track=True) -> None:
        """One epoch on (x, y) (default: the committed data), committing `committed_order` (default: the one used)."""
        x = torch.from_numpy(self.x if x is None else x)
        y = torch.from_numpy(self.y if y is None else y)
        order = torch.randperm(len(y), generator=self.generator)
        if track:
            self.tracker.track_batch_order(order if committed_order is None else committed_order)
        Plain(self.model, self.optimizer, x, y, None, BATCH, tracker=self.tracker if track else None).steps(order)
        if track:
            self.close_epoch()

    def claim_epoch(self, order: torch.Tensor, weights: dict, optimizer_state: dict) -> None:
        """An epoch that was not trained: its order, as many steps, and the given state."""
        self.tracker.track_batch_order(order)
        for _ in range(-(-len(order) // BATCH)):
            self.tracker.track_step()
        self.model.load_state_dict(weights)
        self.optimizer.load_state_dict(optimizer_state)
        self.close_epoch()

    def close_epoch(self) -> None:
        self.epoch += 1
        self.tracker.track_epoch(self.epoch, self.model, {"loss": 0.0})

    def finish(self) -> Path:
        self.tracker.store_merkle_on_blockchain_after_training({"epochs": self.epoch})
        self.tracker.save()  # the audit verifies it first, as `verify` does: each test asserts it PASSED
        self.tracker.close()
        return self.tracker.run_dir


def mix(a: dict, b: dict, t: float) -> dict:
    return {k: (a[k] * (1 - t) + b[k] * t) if torch.is_floating_point(a[k]) else a[k] for k in a}


def mix_optimizer(a: dict, b: dict, t: float) -> dict:
    state = {i: {k: a["state"][i][k] * (1 - t) + b["state"][i][k] * t for k in a["state"][i]} for i in a["state"]}
    return {"state": state, "param_groups": a["param_groups"]}


def copy_state(trainer: Trainer) -> tuple[dict, dict]:
    import copy

    return models.state_dict_of(trainer.model), copy.deepcopy(trainer.optimizer.state_dict())


def segment_lines(report) -> list[str]:
    return [f"{r.segment.describe()}: {r.status} {r.detail}" for r in report.results]


def test_trained_on_a_subset_of_the_committed_data(config, tmp_path):
    trainer = Trainer(tmp_path, config, "subset")
    keep = len(trainer.y) * 4 // 5
    for _ in range(2):
        trainer.train_epoch(trainer.x[:keep], trainer.y[:keep])
    run = trainer.finish()
    report = audit(run, config, 1)
    assert report.verdict == "FAILED" and report.verification == "PASSED"
    assert (f"expected a permutation of the {len(trainer.y)} committed training samples, found {keep} indices "
            f"({keep} distinct): the epoch did not train on the committed data") in report.detail


def test_trained_with_a_few_committed_samples_replaced(config, tmp_path):
    trainer = Trainer(tmp_path, config, "replaced")
    x = trainer.x.copy()
    x[:5] = x[100:105]  # five samples swapped for others (a small poisoning)
    trainer.train_epoch(x, trainer.y)
    run = trainer.finish()
    report = audit(run, config, 1)  # every segment trains on every sample: K = 1 catches it
    assert report.verdict == "FAILED" and report.verification == "PASSED", segment_lines(report)
    assert report.results[0].status == "failed" and report.results[0].distance > 1e-3
    assert "not reproduced: weights differ" in report.detail and "normalised distance" in report.detail


def test_an_epoch_skipped_and_its_checkpoint_interpolated(config, tmp_path):
    trainer = Trainer(tmp_path, config, "interpolated")
    trainer.train_epoch()  # epoch 1, honest
    w1, o1 = copy_state(trainer)
    order2 = torch.randperm(len(trainer.y), generator=trainer.generator)
    trainer.train_epoch(track=False)  # the only further epoch trained
    w3, o3 = copy_state(trainer)
    trainer.claim_epoch(order2, mix(w1, w3, 0.5), mix_optimizer(o1, o3, 0.5))  # epoch 2: interpolated
    trainer.claim_epoch(torch.randperm(len(trainer.y), generator=trainer.generator), w3, o3)  # epoch 3
    run = trainer.finish()
    report = audit(run, config, 2)  # 2 of 3 segments forged: any 2 drawn hold one
    assert report.verdict == "FAILED" and report.verification == "PASSED", segment_lines(report)
    failed = [r for r in report.results if r.status == "failed"]
    assert failed and all(r.segment.epoch in (2, 3) and r.distance > 0.05 for r in failed)
    assert all(r.status == "reproduced" for r in report.results if r.segment.epoch == 1)
    # tolerance mode (what a verifier on other hardware uses) catches it too, reporting the distance
    loose = audit(run, config, 3, seed=0, tolerance=0.01)
    assert loose.verdict == "FAILED" and [r.status for r in loose.results] == ["reproduced", "failed", "failed"]
    assert all(r.mode == "tolerance" and r.distance > 0.01 for r in loose.results[1:]) and loose.results[0].distance == 0.0
    assert "normalised distance" in loose.detail and "> tolerance 0.01" in loose.detail


def test_a_model_trained_elsewhere_claimed_from_the_committed_init(config, tmp_path):
    trainer = Trainer(tmp_path, config, "elsewhere")
    init, _ = copy_state(trainer)
    torch.manual_seed(1)
    other = SmallCNN()  # trained from another init, on the committed data, elsewhere
    elsewhere = Trainer.__new__(Trainer)
    elsewhere.x, elsewhere.y, elsewhere.model = trainer.x, trainer.y, other
    elsewhere.optimizer = torch.optim.Adam(other.parameters(), lr=1e-3)
    elsewhere.generator = torch.Generator().manual_seed(5)
    for _ in range(EPOCHS):
        elsewhere.train_epoch(track=False)
    final, final_optimizer = copy_state(elsewhere)
    for epoch in range(1, EPOCHS + 1):  # the checkpoints, made after the fact: init -> final
        trainer.claim_epoch(torch.randperm(len(trainer.y), generator=trainer.generator),
                            mix(init, final, epoch / EPOCHS), final_optimizer)
    run = trainer.finish()
    report = audit(run, config, 1)
    assert report.verdict == "FAILED" and report.verification == "PASSED", segment_lines(report)
    assert report.results[0].distance > 0.1


def test_committed_batch_order_differs_from_the_order_used(config, tmp_path):
    trainer = Trainer(tmp_path, config, "reordered")
    other = torch.Generator().manual_seed(99)
    trainer.train_epoch(committed_order=torch.randperm(len(trainer.y), generator=other))
    run = trainer.finish()
    done = cli("audit", str(run), "--segments", "1", "--config", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED (exact) weights differ from audit/" in done.stdout and "normalised distance" in done.stdout
    assert "run reordered: audit FAILED: segment" in done.stdout
