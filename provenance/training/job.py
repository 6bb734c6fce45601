"""The training job with provenance before, per epoch and after; deterministic on CPU.

How an epoch trains is a variant chosen once (`variants.py`): plain, gradient shards, distributed
(`cluster=...`, under torchrun: every rank hashes its shard of data and weights, rank 0 alone
builds the trees, anchors and writes the record) or DP-SGD (`dp=True`, the privacy spent after each
epoch in that epoch's tree). `provenance=False` runs the same training with no tracking.

Provenance stays off the training loop's critical path: the pre anchor is sent before the first
step and confirmed beside training; each epoch's checkpoint, tree and anchor are made in the
background from a copy of the weights (`tracker.py`, `background.py`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import nn

from ..digests import datasets, models
from ..errors import ConfigError
from . import variants
from .model import SmallCNN
from .tracker import ProvenanceTracker, new_run_id

if TYPE_CHECKING:
    from .distributed import Cluster


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
    dp: bool = False  # DP-SGD with Opacus, to (target_epsilon, delta) over `epochs`
    target_epsilon: float = 3.0
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    accountant: str = "prv"
    gradient_shards: int = 1  # > 1: a global batch's gradient is the ordered sum of this many shard gradients
    threads: int | None = None  # torch intra-op threads (results depend on it); None: torch's default
    audit: bool = True  # commit what a replay needs (`provenance audit`): batch order, RNG, optimizer state per epoch
    audit_every: int | None = None  # also a training-state checkpoint every N steps within an epoch
    audit_tolerance: float | None = None  # None: replay is bit-exact (deterministic CPU); else the recorded tolerance
    identity: str | None = None  # the Ethereum account the pre tree commits to (train offline, `provenance anchor` later)

    def dp_options(self):
        from .dp import DPOptions

        return DPOptions(self.target_epsilon, self.delta, self.max_grad_norm, self.accountant)

    def training_config(self, dataset: dict[str, Any]) -> dict[str, Any]:
        config = {
            "model": "SmallCNN",
            "optimizer": "Adam",
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
            "dataset": dataset["source"],
        }
        # Only what a variant changes, so a plain run's config (and its roots) stay as they were.
        if self.dp:
            config["dp"] = self.dp_options().config()
        if self.gradient_shards > 1:
            config["gradient_shards"] = self.gradient_shards
        if self.threads is not None:
            config["threads"] = self.threads
        if self.audit_every is not None:
            config["audit_every"] = self.audit_every
        return config


@dataclass(frozen=True)
class EpochDone:
    """One finished epoch, as `Hooks.epoch` hears of it (the epoch's anchors go out in the
    background, so their states are those at the epoch's end: usually pending)."""

    epoch: int
    epochs: int
    loss: float
    accuracy: float
    root: str | None  # the epoch tree's root (0x...); None without epoch trees, or while it is built
    anchors: dict[str, str]  # network -> anchor state
    tree_pending: bool = False  # the epoch tree is still being built (in the background): no root yet


def _ignore(*_: Any) -> None:
    pass


@dataclass(frozen=True)
class Hooks:
    """What a caller (the CLI) passes to `run_training` to follow the run; training never prints.
    `phase(name)` when a phase begins ("hashing data", "hashing model", "anchoring pre",
    "training", "anchoring post", "verifying"); `epoch(EpochDone)` after each epoch."""

    phase: Callable[[str], None] = _ignore
    epoch: Callable[[EpochDone], None] = _ignore


@dataclass
class TrainResult:
    run_dir: Path | None
    accuracy: float
    history: list[dict[str, Any]]
    phases: dict[str, float] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    verification: dict[str, Any] | None = None
    report_path: Path | None = None
    privacy: list[dict[str, Any]] = field(default_factory=list)  # the accounting after each epoch (DP runs)
    weights: dict[str, Any] = field(default_factory=dict)  # a copy of the final weights (provenance on or off)


def run_training(options: TrainOptions, cluster: Cluster | None = None, hooks: Hooks = Hooks()) -> TrainResult:
    """Train SmallCNN with provenance (unless `options.provenance` is off) and verify the run.

    With `cluster`, every rank of a torch.distributed job calls this; only rank 0 tracks, anchors
    and verifies, and only its result carries the run folder and roots."""
    _check(options, cluster)
    threads = torch.get_num_threads()
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    try:
        return _train(options, cluster, hooks)
    finally:
        torch.set_num_threads(threads)


def _train(options: TrainOptions, cluster: Cluster | None, hooks: Hooks) -> TrainResult:
    torch.manual_seed(options.seed)
    torch.use_deterministic_algorithms(True)
    main = cluster is None or cluster.rank == 0
    device = cluster.device if cluster else torch.device("cpu")
    descriptor = datasets.mnist_descriptor(options.mnist_dir) if options.mnist_dir else datasets.digits_descriptor(options.seed)
    (x_train, y_train), (x_test, y_test) = datasets.load(descriptor)
    model = SmallCNN().to(device)
    hasher = cluster.hasher if cluster and options.provenance else None
    phases: dict[str, float] = {}
    tracker = None
    if options.provenance:
        started = time.perf_counter()
        tracker = _track_before(options, cluster, hooks, descriptor, ((x_train, y_train), (x_test, y_test)), model)
        phases["provenance_before_s"] = time.perf_counter() - started
    epoch_trees = bool(tracker and tracker.settings.storage_options.store_epoch_checkpoints)
    if hasher is not None:
        epoch_trees = cluster.broadcast(epoch_trees)

    features, labels = torch.from_numpy(x_train).to(device), torch.from_numpy(y_train).to(device)
    variant = _variant(options, model, features, labels, cluster)
    if tracker is not None and epoch_trees and options.audit and type(variant) in (variants.Plain, variants.Sharded):
        _track_audit(options, tracker, variant)
    history: list[dict[str, Any]] = []
    privacy_history: list[dict[str, Any]] = []
    phases["train_s"] = phases["provenance_epochs_s"] = 0.0
    if main:
        hooks.phase("training")
    for epoch in range(1, options.epochs + 1):
        started = time.perf_counter()
        model.train()
        loss, spent = variant.epoch()
        if spent is not None:
            privacy_history.append({"epoch": epoch} | spent)
        metrics = {}
        if main and not math.isfinite(loss):
            raise ConfigError(f"epoch {epoch}: expected a finite training loss, found {loss} "
                              f"(the training diverged; try a smaller learning rate than {options.learning_rate:g})")
        if main:
            metrics = {"loss": round(loss, 6), "test_accuracy": round(_accuracy(model, x_test, y_test, device), 6)}
            history.append({"epoch": epoch} | metrics)
        phases["train_s"] += time.perf_counter() - started
        if options.provenance:
            started = time.perf_counter()
            leaves = hasher.weight_leaves(model.state_dict()) if hasher is not None and epoch_trees else None
            if tracker is not None:
                # A copy of the weights now; checkpoint, hashes, tree and anchor in the background.
                tracker.track_epoch(epoch, model, metrics, privacy=spent, param_leaves=leaves, background=True)
            phases["provenance_epochs_s"] += time.perf_counter() - started
        if main:
            _tell_epoch(hooks, epoch, options.epochs, metrics, tracker, epoch_trees)

    accuracy = history[-1]["test_accuracy"] if history else (_accuracy(model, x_test, y_test, device) if main else 0.0)
    result = TrainResult(None, accuracy, history, phases, privacy=privacy_history, weights=models.state_dict_of(model))
    final_leaves = hasher.weight_leaves(model.state_dict()) if hasher is not None else None
    if tracker is None:
        return result
    return _track_after(options, hooks, tracker, result, final_leaves, variant.spent())



def _track_audit(options: TrainOptions, tracker: ProvenanceTracker, variant: Any) -> None:
    """Proof of training: the optimizer's state, the batch order and the RNG committed each epoch."""
    from .replay import STEP_NAME

    tracker.track_optimizer(variant.optimizer, step=STEP_NAME, batch_size=options.batch_size, sampler_seed=options.seed,
                            audit_every=options.audit_every, tolerance=options.audit_tolerance)
    variant.tracker = tracker

def _track_before(options: TrainOptions, cluster: Cluster | None, hooks: Hooks, descriptor: dict[str, Any],
                  data: tuple[Any, Any], model: Any) -> ProvenanceTracker | None:
    """The pre-training tree: data and initial weights hashed (on every rank where a cluster
    shares the work), the tracker made on rank 0 and the pre root sent. None on other ranks."""
    main = cluster is None or cluster.rank == 0
    hasher = cluster.hasher if cluster else None
    data_leaves = init_leaves = None
    if hasher is not None:  # every rank hashes its shard; rank 0 gets all leaves
        train_leaves = hasher.dataset_leaves(data[0], "train")
        test_leaves = hasher.dataset_leaves(data[1], "test")
        init_leaves = hasher.weight_leaves(model.state_dict())
        data_leaves = train_leaves + test_leaves if main else None
    if not main:
        return None
    tracker = ProvenanceTracker(options.base_dir, options.config, run_id=options.run_id or new_run_id("digits" if not options.mnist_dir else "mnist"),
                                identity=options.identity)
    if cluster is not None:
        tracker.record.artifacts["distributed"] = cluster.describe()
    hooks.phase("hashing data")
    tracker.track_data(data[0], data[1], source=descriptor, leaves=data_leaves)
    hooks.phase("hashing model")
    tracker.track_model(model, param_leaves=init_leaves)
    hooks.phase("anchoring pre")
    # Sent, not awaited: the confirmation comes in beside training (chain order is kept:
    # every epoch's anchor goes out after it).
    tracker.store_merkle_on_blockchain_before_training(options.training_config(descriptor), wait=False)
    return tracker


def _track_after(options: TrainOptions, hooks: Hooks, tracker: ProvenanceTracker, result: TrainResult,
                 final_leaves: Any, privacy: Any) -> TrainResult:
    """The post-training tree anchored, the run verified and reported if asked, its timings saved."""
    phases = result.phases
    hooks.phase("anchoring post")
    started = time.perf_counter()
    results = {"test_accuracy": result.accuracy, "epochs": options.epochs}
    tracker.store_merkle_on_blockchain_after_training(results, param_leaves=final_leaves, privacy=privacy)
    phases["provenance_after_s"] = time.perf_counter() - started
    result.run_dir = tracker.run_dir
    result.roots = {s.name: "0x" + s.root.hex() for s in tracker.record.stages}
    result.receipts = {f"{r.stage}/{r.receipt.network}": r.receipt.to_json() for r in tracker.record.receipts}
    if options.verify:
        hooks.phase("verifying")
        started = time.perf_counter()
        result.verification = tracker.verify_blockchain_provenance()
        result.report_path = tracker.save_blockchain_report()
        phases["verify_s"] = time.perf_counter() - started
    tracker.record.timings |= {k: round(v, 6) for k, v in phases.items()}
    tracker.save()
    tracker.close()  # the run is done: its folder's lock goes now, not whenever the tracker is collected
    return result


def _tell_epoch(hooks: Hooks, epoch: int, epochs: int, metrics: dict[str, Any], tracker: ProvenanceTracker | None,
                epoch_trees: bool) -> None:
    name = f"epoch-{epoch}"
    stage = next((s for s in tracker.record.stages if s.name == name), None) if tracker is not None else None
    anchors = {n: r.state.value for n, r in tracker.record.receipts_for(name).items()} if stage is not None else {}
    hooks.epoch(EpochDone(epoch, epochs, metrics["loss"], metrics["test_accuracy"],
                          "0x" + stage.root.hex() if stage is not None else None, anchors,
                          tree_pending=epoch_trees and stage is None))


def _variant(options: TrainOptions, model: nn.Module, features: torch.Tensor, labels: torch.Tensor, cluster: Cluster | None) -> variants.Variant:
    """The variant the options ask for, with its optimizer (Adam) around `model`."""
    optimizer = torch.optim.Adam(model.parameters(), lr=options.learning_rate)
    if options.dp:
        from .dp import PrivateTraining

        return variants.Private(PrivateTraining(model, optimizer, features, labels, batch_size=options.batch_size,
                                                epochs=options.epochs, seed=options.seed, options=options.dp_options()))
    net = cluster.wrap(model) if cluster else model
    generator = torch.Generator().manual_seed(options.seed)
    common = (net, optimizer, features, labels, generator, options.batch_size)
    if cluster is not None:
        return variants.Distributed(*common, shards=options.gradient_shards, cluster=cluster)
    if options.gradient_shards > 1:
        return variants.Sharded(*common, shards=options.gradient_shards)
    return variants.Plain(*common)


def _accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device | None = None) -> float:
    model.eval()
    with torch.no_grad():
        predictions = model(torch.from_numpy(x).to(device or "cpu")).argmax(dim=1).cpu().numpy()
    return float((predictions == y).mean())


def _check(options: TrainOptions, cluster: Cluster | None) -> None:
    if options.audit_every is not None and (not isinstance(options.audit_every, int) or options.audit_every < 1):
        raise ConfigError(f"audit_every: expected a positive integer, found {options.audit_every!r}")
    for name in ("epochs", "batch_size", "gradient_shards"):
        value = getattr(options, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}: expected a positive integer, found {value!r}")
    datasets.check_seed(options.seed)
    if not options.learning_rate > 0:
        raise ConfigError(f"learning_rate: expected a positive number, found {options.learning_rate!r}")
    if options.threads is not None and (not isinstance(options.threads, int) or options.threads < 1):
        raise ConfigError(f"threads: expected a positive integer, found {options.threads!r}")
    if options.dp:
        options.dp_options().check()
        if options.gradient_shards > 1 or cluster is not None:
            raise ConfigError("dp: expected a single-process run; DP with gradient shards or torch.distributed is not supported")
    if cluster is not None and options.gradient_shards != cluster.world_size:
        raise ConfigError(f"gradient_shards: expected the world size {cluster.world_size}, found {options.gradient_shards}")
    if options.provenance and (cluster is None or cluster.rank == 0):
        _check_writable(options)


def _check_writable(options: TrainOptions) -> None:
    """Where the run will write, checked before anything is hashed or written: the base dir and
    the data home are folders (or can be), the outbox opens."""
    from ..files import check_folder, data_home
    from ..anchoring.outbox import Outbox

    check_folder(options.base_dir, "base_dir")
    if options.run_id is not None:
        check_folder(Path(options.base_dir) / options.run_id, "run folder")
    data_home()
    Outbox()
