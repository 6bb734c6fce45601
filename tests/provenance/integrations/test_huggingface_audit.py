"""Proof of training with the Hugging Face Trainer: an `AuditedTrainer` run with `audit=True`
audits AUDITED in a fresh `provenance audit` process (the verifier's own transformers replays it,
nothing of the run folder executed); a run that trained on other rows than it committed FAILS;
settings the replay does not reproduce are refused before training, in one line."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
import torch
from transformers import TrainingArguments

from provenance.digests.datasets import hf_disk_descriptor
from provenance.errors import ConfigError
from provenance.integrations.huggingface import AuditedTrainer, ProvenanceCallback
from provenance.training.audit import audit_run
from tests.provenance.integrations.test_huggingface import tiny_bert, token_split
from tests.support.cli import cli


def _train(tmp_path, run_id: str, train: datasets.Dataset, committed: datasets.DatasetDict, descriptor, **extra) -> ProvenanceCallback:
    callback = ProvenanceCallback(tmp_path / "runs", train_dataset=committed["train"], eval_dataset=committed["test"],
                                  data_source=descriptor, run_id=run_id,
                                  audit=True, audit_every=2)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=16,
                             learning_rate=1e-3, warmup_steps=2, weight_decay=0.01, max_grad_norm=0.5, save_strategy="no",
                             report_to=[], use_cpu=True, disable_tqdm=True, seed=5, **extra)
    torch.use_deterministic_algorithms(True)
    try:
        AuditedTrainer(model=tiny_bert(), args=args, train_dataset=train, callbacks=[callback]).train()
    finally:
        torch.use_deterministic_algorithms(False)
    return callback


def _audit(run_dir) -> tuple[int, dict]:
    done = cli("audit", str(run_dir), "--segments", "2", "--json")
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_trainer_run_audits_and_a_run_on_other_rows_fails(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "data"
    rows = token_split(rng, 64)
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows),
                          "test": datasets.Dataset.from_dict(token_split(rng, 8))}).save_to_disk(str(folder))
    data = datasets.load_from_disk(str(folder))
    descriptor = hf_disk_descriptor(folder, train_split="train", test_split="test")

    honest = _train(tmp_path, "hf-honest", data["train"], data, descriptor).run_dir
    assert sorted(p.name for p in (honest / "audit").iterdir())[:3] == ["e001-s000000.safetensors", "e001-s000002.safetensors",
                                                                      "e001-s000004.safetensors"]
    code, report = _audit(honest)
    assert (code, report["verdict"], report["segments_total"]) == (0, "AUDITED", 4), report
    assert all(s["status"] == "reproduced" and s["distance"] == 0.0 for s in report["segments"]), report

    # The trainer commits the dataset on disk but trains on a copy with 3 rows' tokens replaced.
    for i in (3, 17, 40):
        rows["input_ids"][i] = [7] * 8
    forged = _train(tmp_path, "hf-forged", datasets.Dataset.from_dict(rows), data, descriptor).run_dir
    report = audit_run(forged, segments=4)  # all 4 (each epoch meets a replaced row); in this process: transformers is imported
    assert report.verification == "PASSED", report.detail  # every anchor genuine: `provenance verify` passes it
    assert (report.exit_code, report.verdict) == (1, "FAILED"), report.detail
    failed = [r for r in report.results if r.status == "failed"]
    assert failed and all("weights differ" in r.detail and r.distance > 0 for r in failed), report.detail


@pytest.mark.parametrize("extra, expected", [({"gradient_accumulation_steps": 2}, "expected gradient_accumulation_steps 1, found 2"),
                                              ({"max_steps": 3}, "expected epochs (max_steps -1), found max_steps 3")])
def test_settings_the_replay_does_not_reproduce_are_refused(tmp_path, extra, expected):
    train = datasets.Dataset.from_dict(token_split(np.random.default_rng(2), 8))
    with pytest.raises(ConfigError, match=r"proof of training with the Hugging Face Trainer: " + expected.replace("(", r"\(").replace(")", r"\)")):
        _train(tmp_path, "hf-refused", train, {"train": train, "test": None}, None, **extra)
    assert not (tmp_path / "runs" / "hf-refused").exists()  # refused before the run began
