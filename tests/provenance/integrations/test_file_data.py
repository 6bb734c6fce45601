"""Runs on data kept in files, verified by anyone: a Lightning fit on a .npz file and on a CSV
table, and a Hugging Face `Trainer` on a dataset saved to disk, each recorded with the file's
descriptor by the callbacks (nothing passed but the datasets), then `provenance verify` in a
fresh process: PASSED; the data moved and re-pointed with `--data`: PASSED and the report names
the copy; the data absent: CANNOT CHECK, exit 3; one byte of one sample changed: FAILED naming it."""

from __future__ import annotations

import json
import shutil

import datasets as hf
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import Trainer, TrainingArguments

from provenance.digests.datasets import open_files
from provenance.integrations import huggingface, lightning
from tests.provenance.integrations.test_huggingface import tiny_bert, token_split
from tests.support.cli import cli


class TableNet(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(4, 3)

    def training_step(self, batch, index):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x.float()), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(train, test, runs, run_id):
    torch.manual_seed(0)
    callback = lightning.ProvenanceCallback(runs, run_id=run_id)
    trainer = L.Trainer(max_epochs=1, num_sanity_val_steps=0, accelerator="cpu", callbacks=[callback], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(TableNet(), DataLoader(train, batch_size=16), DataLoader(test, batch_size=16) if test is not None else None)
    return callback.run_dir


def _verify(run_dir, *args):
    done = cli("verify", str(run_dir), *args)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _flip_first_byte(values: np.ndarray, row: int) -> np.ndarray:
    changed = values.copy()
    changed[row].view(np.uint8).reshape(-1)[0] ^= 1
    return changed


def test_lightning_on_a_npz_file(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 4)).astype(np.float32), rng.integers(0, 3, 48)
    data = tmp_path / "data" / "table.npz"
    data.parent.mkdir()
    np.savez(data, features=x[:32], labels=y[:32], test_features=x[32:], test_labels=y[32:])
    train, test = open_files(data, test_features="test_features", test_labels="test_labels")
    run_dir = _fit(train, test, tmp_path / "runs", "npz-run")
    recorded = json.loads((run_dir / "record.json").read_text())["artifacts"]["dataset"]
    assert recorded["source"] == "numpy" and recorded["name"] == "table"

    assert _verify(run_dir).returncode == 0
    moved = tmp_path / "elsewhere" / "copy.npz"
    moved.parent.mkdir()
    shutil.move(data, moved)
    absent = _verify(run_dir)
    assert absent.returncode == 3, absent.stdout[-2000:]
    assert "verification CANNOT CHECK" in absent.stdout and "--data table=PATH" in absent.stdout
    repointed = _verify(run_dir, "--data", f"table={moved}")
    assert repointed.returncode == 0, repointed.stdout[-2000:]
    assert f"data checked: dataset at {moved}" in repointed.stdout

    np.savez(moved, features=_flip_first_byte(x[:32], 5), labels=y[:32], test_features=x[32:], test_labels=y[32:])
    flipped = _verify(run_dir, "--data", f"dataset={moved}")
    assert flipped.returncode == 1 and "data.sample:train/000005 in tree 'pre' changed" in flipped.stdout


def test_lightning_on_a_csv_table(tmp_path):
    rows = ["a,b,c,d,label"] + [f"{i},{i * 0.5},{-i},{i % 7},{i % 3}" for i in range(40)]
    data = tmp_path / "table.csv"
    data.write_text("\n".join(rows) + "\n")
    train, test = open_files(data)
    run_dir = _fit(train, test, tmp_path / "runs", "csv-run")
    assert json.loads((run_dir / "record.json").read_text())["artifacts"]["dataset"]["source"] == "csv"

    moved = tmp_path / "copy.csv"
    shutil.move(data, moved)
    assert _verify(run_dir, "--data", f"table={moved}").returncode == 0
    moved.write_text("\n".join(rows[:8] + ["7,3.5,-7,0,2"] + rows[9:]) + "\n")  # row 7: one byte, its label 1 -> 2
    flipped = _verify(run_dir, "--data", f"table={moved}")
    assert flipped.returncode == 1 and "data.sample:train/000007 in tree 'pre' changed" in flipped.stdout


def test_hugging_face_on_a_dataset_saved_to_disk(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "data"
    hf.DatasetDict({"train": hf.Dataset.from_dict(token_split(rng, 32)),
                    "test": hf.Dataset.from_dict(token_split(rng, 8))}).save_to_disk(str(folder))
    data = hf.load_from_disk(str(folder))
    callback = huggingface.ProvenanceCallback(tmp_path / "runs", train_dataset=data["train"], eval_dataset=data["test"],
                                              run_id="hf-files")
    args = TrainingArguments(output_dir=str(tmp_path / "out"), num_train_epochs=1, per_device_train_batch_size=16,
                             save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True)
    Trainer(model=tiny_bert(), args=args, train_dataset=data["train"], eval_dataset=data["test"], callbacks=[callback]).train()
    run_dir = callback.run_dir
    recorded = json.loads((run_dir / "record.json").read_text())["artifacts"]["dataset"]
    assert recorded["source"] == "hf-disk" and recorded["train_split"] == "train" and recorded["test_split"] == "test"

    assert _verify(run_dir).returncode == 0
    moved = tmp_path / "copy"
    shutil.move(folder, moved)
    assert _verify(run_dir).returncode == 3
    repointed = _verify(run_dir, "--data", f"dataset={moved}")
    assert repointed.returncode == 0, repointed.stdout[-2000:]
    assert f"data checked: dataset at {moved}" in repointed.stdout
