"""A real `transformers.Trainer.train()` on CPU (a tiny random BERT built from a config, Hugging
Face `datasets` as the data) with the ProvenanceCallback, then `provenance verify` in a fresh
process; and the per-row hashing of `datasets.Dataset` against its written definition."""

from __future__ import annotations

import json
import struct

import datasets
import numpy as np
import pytest
import torch
from blake3 import blake3
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from provenance.digests.datasets import hf_disk_descriptor, load
from provenance.errors import FormatError
from provenance.digests.hashing import dataset_leaves
from provenance.integrations.huggingface import ProvenanceCallback, training_config
from tests.support.cli import cli

from tests.support.tamper import flip_tensor_byte

TOKEN = "hf_" + "q" * 34  # what a Hugging Face access token looks like


def token_split(rng: np.random.Generator, n: int) -> dict[str, list]:
    ids = rng.integers(1, 100, (n, 8))
    return {"input_ids": ids.tolist(), "attention_mask": np.ones((n, 8), dtype=np.int64).tolist(), "labels": (ids[:, 0] % 2).tolist()}


def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=16, num_labels=2)
    return BertForSequenceClassification(config)


def test_train_is_recorded_anchored_and_verified_in_a_fresh_process(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "data"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(token_split(rng, 64)),
                          "test": datasets.Dataset.from_dict(token_split(rng, 16))}).save_to_disk(str(folder))
    data = datasets.load_from_disk(str(folder))
    descriptor = hf_disk_descriptor(folder, train_split="train", test_split="test")
    callback = ProvenanceCallback(tmp_path / "runs", train_dataset=data["train"], eval_dataset=data["test"],
                                  data_source=descriptor, run_id="hf-run")
    args = TrainingArguments(output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=16,
                             learning_rate=1e-3, eval_strategy="epoch", save_strategy="no", logging_steps=2, report_to=[],
                             use_cpu=True, disable_tqdm=True, hub_token=TOKEN)
    Trainer(model=tiny_bert(), args=args, train_dataset=data["train"], eval_dataset=data["test"], callbacks=[callback]).train()

    record = callback.tracker.record
    assert [s.name for s in record.stages] == ["pre", "epoch-1", "epoch-2", "post"]
    samples = [leaf for leaf in record.stage("pre").leaves if leaf.kind == "data.sample"]
    assert [leaf.name for leaf in samples[:2]] == ["train/000000", "train/000001"] and len(samples) == 80
    assert record.artifacts["dataset"]["source"] == "hf-disk" and record.artifacts["dataset"]["train_samples"] == 64
    assert record.config["learning_rate"] == 1e-3 and record.config["num_train_epochs"] == 2
    assert {"hub_token", "output_dir"} <= set(record.config["dropped_training_arguments"])
    assert "eval_loss" in record.stage("post").metrics and record.stage("post").metrics["global_step"] == 8
    run_dir = callback.run_dir
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
            assert str(tmp_path / "out").encode() not in path.read_bytes(), path

    done = cli("verify", str(run_dir), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True

    tensor = flip_tensor_byte(run_dir / "model.safetensors")
    done = cli("verify", str(run_dir))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"model.param:{tensor} in tree 'post' changed" in done.stdout
    assert "model.file:model.safetensors in tree 'post' changed" in done.stdout


def test_a_changed_row_on_disk_is_named(tmp_path):
    """The hf-disk descriptor re-loads the folder, so a row changed there after the run is named."""
    rng = np.random.default_rng(1)
    first, second = tmp_path / "a", tmp_path / "b"
    rows = token_split(rng, 12)
    datasets.Dataset.from_dict(rows).save_to_disk(str(first))
    rows["labels"][5] = 1 - rows["labels"][5]
    datasets.Dataset.from_dict(rows).save_to_disk(str(second))
    before = dataset_leaves(load(hf_disk_descriptor(first))[0], "train")
    after = dataset_leaves(load(hf_disk_descriptor(second))[0], "train")
    assert [a.name for a, b in zip(before, after) if a != b] == ["train/000005"]


def test_hf_disk_descriptor_names_what_is_wrong(tmp_path):
    with pytest.raises(FormatError, match=r"dataset.path: expected a folder written by save_to_disk, found no folder at .*missing"):
        load(hf_disk_descriptor(tmp_path / "missing"))
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"label": [0]})}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(FormatError, match=r"dataset.test_split: expected one of \['train'\], found 'validation'"):
        load(hf_disk_descriptor(tmp_path / "dd", test_split="validation"))


def _trailer(shape: tuple[int, ...], dtype: str) -> bytes:
    return b"".join(struct.pack("<Q", s) for s in shape) + bytes([len(shape)]) + dtype.encode() + bytes([len(dtype)])


def _named(name: str) -> bytes:
    return name.encode() + struct.pack("<H", len(name.encode()))


def test_row_bytes_follow_the_written_canonicalisation():
    """provenance-arrow-row/v1 redone by hand from its docstring: columns sorted by name, each cell as an
    array of `provenance-canonical/v1` followed by the column name; nulls as `null`."""
    table = datasets.Dataset.from_dict({"text": ["déf", None], "ids": [[4, 5, 6], []], "label": [3, 1],
                                        "score": [0.5, None], "keep": [True, False]})
    leaves = dataset_leaves(table, "train")
    row0 = (np.array([4, 5, 6], "<i8").tobytes() + _trailer((3,), "int64") + _named("ids")
            + b"\x01" + _trailer((), "bool") + _named("keep")
            + np.int64(3).tobytes() + _trailer((), "int64") + _named("label")
            + np.float64(0.5).tobytes() + _trailer((), "float64") + _named("score")
            + "déf".encode() + _trailer((4,), "utf8") + _named("text"))
    row1 = (_trailer((0,), "int64") + _named("ids") + b"\x00" + _trailer((), "bool") + _named("keep")
            + np.int64(1).tobytes() + _trailer((), "int64") + _named("label")
            + _trailer((), "null") + _named("score") + _trailer((), "null") + _named("text"))
    assert leaves[0].digest == blake3(row0).digest() and leaves[0].size == 1 + 24 + 8 + 8 + 4
    assert leaves[1].digest == blake3(row1).digest()
    # Column order, Arrow chunking and a select() mapping do not change a row's leaf.
    assert dataset_leaves(table.data.table.select(["label", "text", "ids", "score", "keep"]), "train") == leaves
    assert dataset_leaves(table.select([1, 0]), "train")[0].digest == leaves[1].digest
    assert dataset_leaves(table, "train", rows=(1, 2)) == leaves[1:]


def test_unsupported_column_is_named():
    table = datasets.Dataset.from_dict({"nested": [[[1, 2], [3]]], "label": [0]})
    with pytest.raises(FormatError, match="dataset column 'nested'.*found Arrow type list<item: list<item: int64>>"):
        dataset_leaves(table, "train")


def test_training_arguments_screened_of_tokens_and_paths(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path / "out"), hub_token=TOKEN, hub_model_id="me/model", report_to=[],
                             use_cpu=True, seed=7)
    config = training_config(args)
    assert config["seed"] == 7 and "learning_rate" in config
    assert TOKEN not in json.dumps(config) and str(tmp_path) not in json.dumps(config)
    assert {"hub_token", "hub_model_id", "output_dir"} <= set(config["dropped_training_arguments"])
