"""The training job with provenance before, per epoch and after; deterministic on CPU."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import datasets
from ..tracker import ProvenanceTracker, new_run_id
from .model import SmallCNN


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    mnist_dir: str | None = None
    base_dir: str = "artifacts"
    config: Any = None  # tracker config: dict, JSON path, or None for configs/blockchain_config.json/defaults
    provenance: bool = True  # False: the same training without any tracking (for the overhead benchmark)
    run_id: str | None = None
    verify: bool = True

    def training_config(self, dataset: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": "SmallCNN",
            "optimizer": "Adam",
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
            "dataset": dataset["source"],
        }


@dataclass
class TrainResult:
    run_dir: Path | None
    accuracy: float
    history: list[dict[str, float]]
    phases: dict[str, float] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    verification: dict[str, Any] | None = None
    report_path: Path | None = None


def run_training(options: TrainOptions) -> TrainResult:
    """Train SmallCNN with provenance (unless `options.provenance` is off) and verify the run."""
    _check(options)
    torch.manual_seed(options.seed)
    torch.use_deterministic_algorithms(True)
    descriptor = datasets.mnist_descriptor(options.mnist_dir) if options.mnist_dir else datasets.digits_descriptor(options.seed)
    (x_train, y_train), (x_test, y_test) = datasets.load(descriptor)
    model = SmallCNN()
    phases: dict[str, float] = {}
    tracker = None
    if options.provenance:
        started = time.perf_counter()
        tracker = ProvenanceTracker(options.base_dir, options.config, run_id=options.run_id or new_run_id("digits" if not options.mnist_dir else "mnist"))
        tracker.track_data((x_train, y_train), (x_test, y_test), source=descriptor)
        tracker.track_model(model)
        tracker.store_merkle_on_blockchain_before_training(options.training_config(descriptor))
        phases["provenance_before_s"] = time.perf_counter() - started

    optimizer = torch.optim.Adam(model.parameters(), lr=options.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(options.seed)
    features, labels = torch.from_numpy(x_train), torch.from_numpy(y_train)
    history = []
    phases["train_s"] = phases["provenance_epochs_s"] = 0.0
    for epoch in range(1, options.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        total = 0.0
        for i in range(0, len(order), options.batch_size):
            batch = order[i : i + options.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(features[batch]), labels[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        metrics = {"loss": round(total / len(labels), 6), "test_accuracy": round(_accuracy(model, x_test, y_test), 6)}
        history.append({"epoch": epoch} | metrics)
        phases["train_s"] += time.perf_counter() - started
        if tracker is not None:
            started = time.perf_counter()
            tracker.track_epoch(epoch, model, metrics)
            phases["provenance_epochs_s"] += time.perf_counter() - started

    accuracy = history[-1]["test_accuracy"] if history else _accuracy(model, x_test, y_test)
    result = TrainResult(None, accuracy, history, phases)
    if tracker is None:
        return result
    started = time.perf_counter()
    tracker.store_merkle_on_blockchain_after_training({"test_accuracy": accuracy, "epochs": options.epochs})
    phases["provenance_after_s"] = time.perf_counter() - started
    result.run_dir = tracker.run_dir
    result.roots = {s.name: "0x" + s.root.hex() for s in tracker.record.stages}
    result.receipts = {f"{r.stage}/{r.receipt.network}": r.receipt.to_json() for r in tracker.record.receipts}
    if options.verify:
        started = time.perf_counter()
        result.verification = tracker.verify_blockchain_provenance()
        result.report_path = tracker.save_blockchain_report()
        phases["verify_s"] = time.perf_counter() - started
    tracker.record.timings |= {k: round(v, 6) for k, v in phases.items()}
    tracker.save()
    return result


def _accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        predictions = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float((predictions == y).mean())


def _check(options: TrainOptions) -> None:
    from ..errors import ConfigError

    for name in ("epochs", "batch_size"):
        value = getattr(options, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}: expected a positive integer, found {value!r}")
    if not options.learning_rate > 0:
        raise ConfigError(f"learning_rate: expected a positive number, found {options.learning_rate!r}")


def options_dict(options: TrainOptions) -> dict[str, Any]:
    return asdict(options)
