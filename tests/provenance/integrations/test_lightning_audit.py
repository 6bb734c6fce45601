"""Proof of training with Lightning: a `fit` with `audit=True` commits each epoch's order, RNG and
optimizer state, and a verifier with its own copy of the module's code audits it, in a fresh
process: AUDITED; replayed with another loss than the one that trained: FAILED."""

from __future__ import annotations

import json
import subprocess
import sys

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from provenance.digests import datasets
from provenance.integrations.lightning import ProvenanceCallback
from provenance.integrations.sampling import EpochOrderSampler, batch_replayer
from tests.support.cli import ROOT

STEP = "tests.lightning-digits/v1"


class DigitsNet(L.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 16) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))

    def training_step(self, batch, index):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)


def build(config):
    """The verifier's own code, parameterised by the committed config only."""
    module = DigitsNet(lr=config["lr"], hidden=config["hidden"])
    return module, module.configure_optimizers()


REPLAYER = batch_replayer(STEP, build, lambda module, batch, k: module.training_step(batch, k))

AUDIT = """
import json, sys
from provenance.training.audit import audit_run
from tests.provenance.integrations.test_lightning_audit import REPLAYER, STEP
from provenance.integrations.sampling import batch_replayer
steps = {STEP: REPLAYER}
if sys.argv[2] == "other-loss":  # what a trainer whose step differed from the claimed one would meet
    import torch
    other = lambda m, b, k: torch.nn.functional.cross_entropy(m.net(b[0]), b[1], label_smoothing=0.01)
    steps = {STEP: batch_replayer(STEP, REPLAYER.build, other)}
report = audit_run(sys.argv[1], segments=2, steps=steps)
print(json.dumps(report.to_json()))
"""


def test_lightning_fit_audits_in_a_fresh_process(tmp_path):
    descriptor = datasets.digits_descriptor()
    (x, y), (xt, yt) = datasets.load(descriptor)
    train = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=64, sampler=EpochOrderSampler(len(y), seed=3))
    test = DataLoader(TensorDataset(torch.from_numpy(xt), torch.from_numpy(yt)), batch_size=256)
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    callback = ProvenanceCallback(tmp_path / "runs", data_source=descriptor, run_id="lightning-audit", audit_every=12,
                                  audit_step=STEP)
    trainer = L.Trainer(max_epochs=2, num_sanity_val_steps=0, accelerator="cpu", callbacks=[callback], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(DigitsNet(lr=0.05), train, test)
    run = callback.run_dir
    assert sorted(p.name for p in (run / "audit").iterdir())[:3] == ["e001-s000000.safetensors", "e001-s000012.safetensors",
                                                                      "e001-s000023.safetensors"]

    def audit(mode: str) -> dict:
        done = subprocess.run([sys.executable, "-c", AUDIT, str(run), mode], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    report = audit("honest")
    assert report["verdict"] == "AUDITED" and report["segments_total"] == 4, report
    assert all(s["status"] == "reproduced" and s["distance"] == 0.0 for s in report["segments"])
    report = audit("other-loss")
    assert report["verdict"] == "FAILED" and "weights differ" in report["detail"], report
