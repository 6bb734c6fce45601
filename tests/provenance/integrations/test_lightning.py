"""A real Lightning `fit` on CPU with the ProvenanceCallback, then `provenance verify` in a fresh
process: it passes, and a flipped byte in a saved checkpoint fails naming the tensor."""

from __future__ import annotations

import json

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from provenance.digests import datasets
from provenance.integrations.lightning import ProvenanceCallback
from tests.support.cli import cli

from tests.support.tamper import flip_tensor_byte


class DigitsNet(L.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 16) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))

    def training_step(self, batch, index):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, index):
        x, y = batch
        self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loaders(descriptor):
    (x_train, y_train), (x_test, y_test) = datasets.load(descriptor)
    train = DataLoader(TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train)), batch_size=64)
    test = DataLoader(TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test)), batch_size=128)
    return train, test


def test_fit_is_recorded_anchored_and_verified_in_a_fresh_process(tmp_path):
    descriptor = datasets.digits_descriptor()
    train, test = loaders(descriptor)
    torch.manual_seed(0)
    model = DigitsNet(lr=0.2)
    callback = ProvenanceCallback(tmp_path / "runs", data_source=descriptor, run_id="lightning-run")
    trainer = L.Trainer(max_epochs=2, limit_train_batches=4, num_sanity_val_steps=0, accelerator="cpu", callbacks=[callback],
                        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, train, test)

    record = callback.tracker.record
    assert [s.name for s in record.stages] == ["pre", "epoch-1", "epoch-2", "post"]
    pre = record.stage("pre")
    samples = [leaf.name for leaf in pre.leaves if leaf.kind == "data.sample"]
    assert len(samples) == len(train.dataset) + len(test.dataset) and samples[0] == "train/000000"
    assert record.config["lr"] == 0.2 and record.config["hidden"] == 16 and record.config["trainer"]["max_epochs"] == 2
    assert record.stage("epoch-2").metrics["global_step"] == 8 and "val_acc" in record.stage("epoch-2").metrics
    final = dict(model.state_dict())
    post_params = {leaf.name for leaf in record.stage("post").leaves if leaf.kind == "model.param"}
    assert post_params == set(final)
    assert all(r.state.value == "confirmed" for r in (e.receipt for e in record.receipts))
    assert {e.stage for e in record.receipts} == {"pre", "epoch-1", "epoch-2", "post"}

    run_dir = callback.run_dir
    done = cli("verify", str(run_dir), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True

    tensor = flip_tensor_byte(run_dir / "checkpoints" / "epoch-001.safetensors")
    done = cli("verify", str(run_dir))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"model.param:{tensor} in tree 'epoch-1' changed" in done.stdout
    assert "model.file:checkpoints/epoch-001.safetensors in tree 'epoch-1' changed" in done.stdout
