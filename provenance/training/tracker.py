"""`ProvenanceTracker`: provenance for a training loop, with the original system's API.

    tracker = ProvenanceTracker("artifacts", config)
    tracker.track_data(train, test)
    tracker.track_model(model)
    tracker.store_merkle_on_blockchain_before_training(training_config)
    for epoch in ...:
        ...train...
        tracker.track_epoch(epoch, model, {"loss": ..., "accuracy": ...})
    tracker.store_merkle_on_blockchain_after_training(results)
    report = tracker.verify_blockchain_provenance()
    tracker.save_blockchain_report()

Each run lives in `base_dir/<run_id>/`: `record.json` (provenance-record/v2), `config.json`,
`model_init.safetensors`, `checkpoints/epoch-NNN.safetensors`, `model.safetensors` and reports.

A tracker holds `run_dir/.lock` (an fcntl lock) for its whole life, so a second training with the
same run id is refused while the first runs; a run id whose folder already holds a record, or
whose stages already reached a network, is refused too: an anchored run is never overwritten.
The `pre` tree commits to the run's anchoring identity and a random nonce (see the threat model,
docs/explanation/threat-model.md).

Off the training loop's critical path (`run_training` uses both; the defaults keep the original
API's behaviour): `store_merkle_on_blockchain_before_training(..., wait=False)` sends the pre
anchor and returns, its confirmation awaited beside training; `track_epoch(..., background=True)`
takes a snapshot of the weights and leaves the checkpoint, its hashes, the epoch tree and its
anchor to a background thread (`background.py`), in order. The git state is read and the Ethereum
backend opened ahead, in threads started by the constructor, while the data is hashed.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..digests import context, datasets, models, train_state
from ..digests.shards import tracking as shard_tracking
from ..record import runlock
from ..anchoring import AnchorResult, Anchors
from ..anchors.base import AnchorBackend
from ..record.receipts import AnchorState, now_iso
from ..config import ProvenanceConfig, load_settings, refuse_secrets
from ..errors import ConfigError, ProvenanceError
from ..files import CONFIG_FILE, FINAL_MODEL_FILE, INIT_MODEL_FILE, RECORD_FILE, atomic_write_json
from ..digests.hashing import CANONICALIZATION
from ..merkle import Leaf
from ..record import Record, Stage, check_run_id, ethereum_identity_leaf, kinds
from .background import Ahead, EpochWork
from .tracker_values import NETWORK_KEYS, _refuse_secrets_in_training_config, _value_leaves, _with_privacy  # noqa: F401 - NETWORK_KEYS: its old home
from .tracker_anchors import TrackerAnchoring
from .tracker_audit import AuditTracking

log = logging.getLogger(__name__)


def new_run_id(prefix: str = "run") -> str:
    return f"{prefix}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def checkpoint_file(epoch: int) -> str:
    return f"checkpoints/epoch-{epoch:03d}.safetensors"


class ProvenanceTracker(TrackerAnchoring, AuditTracking):
    """Hashes a run's data, model, config, code and environment into chained Merkle trees,
    anchors their roots and verifies them."""

    def __init__(
        self,
        base_dir: str | Path = "artifacts",
        config: ProvenanceConfig | Mapping[str, Any] | str | Path | None = None,
        *,
        run_id: str | None = None,
        backends: Mapping[str, AnchorBackend] | None = None,
        code_path: str | Path = ".",
        lockfile: str | Path | None = "requirements.lock",
        read_only: bool = False,
        identity: str | None = None,
        _attach: bool = False,
    ) -> None:
        self.settings = load_settings(config)  # typed; `config` is its dict form, kept for the API
        self.config = self.settings.as_dict()
        # The account that will anchor the run, named without its key (train offline, anchor later):
        # the argument, else the config's blockchain.ethereum.identity.
        self._identity = ethereum_identity_leaf(identity).name if identity is not None else self.settings.blockchain.ethereum.identity
        if run_id is not None:
            refuse_secrets(run_id, "run id")  # a key pasted as a run id would name the folder and the outbox entries
        self.run_id = check_run_id(run_id) if run_id is not None else new_run_id()
        self.run_dir = Path(base_dir) / self.run_id
        self.record = Record(self.run_id, CANONICALIZATION)
        self.anchors = Anchors(self.settings, backends, read_only=read_only)  # read-only: never starts a node or deploys
        self._code_path = Path(code_path)
        self._lockfile = Path(lockfile) if lockfile else None
        self._data_leaves: list[Leaf] = []
        self._datasets: tuple[Any, Any] | None = None
        self._model: Any = None
        self._init_leaves: list[Leaf] = []
        self._epoch_metrics: list[dict[str, Any]] = []
        self._loaded = False
        self._last_report: Any = None
        self._lock_fd: int | None = None
        self._epochs = EpochWork()
        self._held: list[str] = []  # epoch stages queued in the outbox, to be sent together (`_anchor_epoch`)
        self._timings_lock = threading.Lock()
        self._code: Ahead[dict[str, Any]] | None = None
        self._trail: Any = None  # the proof-of-training trail (`track_optimizer`), None when off
        if not _attach:
            self._claim_run_dir()
            self._start_ahead()

    def _start_ahead(self) -> None:
        """Start what the pre-training tree will need and does not depend on the data: the git
        state (tens of ms of git subprocesses) and the Ethereum backend (connecting, checking the
        contract), each in a thread, so both are ready by the time the data is hashed."""
        # The run folder is being written meanwhile: its files are never part of the code state.
        self._code = Ahead(lambda: context.code_info(self._code_path, exclude=self.run_dir), "provenance-git")
        if self.anchors.enabled and "ethereum" in self.anchors.networks:
            def open_ethereum() -> None:
                try:
                    self.anchors.backend("ethereum")
                except ProvenanceError:
                    pass  # asked again for the identity leaf, where the error is handled
            Ahead(open_ethereum, "provenance-open-ethereum")

    def close(self) -> None:
        """Finish the epochs still being written, then release the run folder's lock (also done
        when the tracker is garbage-collected)."""
        epochs = getattr(self, "_epochs", None)  # None when __init__ stopped early
        try:
            if epochs is not None:
                epochs.finish()  # a no-op join from the worker itself
        finally:
            runlock.release(getattr(self, "_lock_fd", None))  # None also when __init__ stopped early
        self._lock_fd = None

    def __enter__(self) -> ProvenanceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit modules may be gone; the OS drops the lock anyway
            pass

    def _claim_run_dir(self) -> None:
        """Take the run folder for this tracker's life, before anything is written into it:
        refused (exit 2) if another tracker holds it, or if it already is a run."""
        where = self.run_dir
        self._lock_fd = runlock.hold(where, self.run_id)
        existing = "a record (record.json)" if (where / RECORD_FILE).exists() else self._anchored_elsewhere()
        if existing:
            self.close()
            raise ConfigError(f"run id {self.run_id!r}: expected a new run id, found {where} already holding {existing}; "
                              "an existing run is never overwritten: choose another --run-id")

    def _anchored_elsewhere(self) -> str:
        """What the outbox already sent for this run folder (a crash before record.json was saved)."""
        if not self.anchors.enabled:
            return ""
        from ..anchoring.recovery import entries_for

        sent = [e for e in entries_for(self.run_dir, self.run_id, self.anchors.outbox)
                if e.state is not AnchorState.PENDING or e.receipt is not None]
        return f"anchors in the outbox ({', '.join(sorted({e.stage for e in sent}))}; see `provenance recover`)" if sent else ""

    # ------------------------------------------------------------------ tracking

    def track_data(self, train_data: Any, test_data: Any = None, *, source: Mapping[str, Any] | None = None,
                   leaves: Sequence[Leaf] | None = None, engine: Any = None, shard_size: int | None = None) -> dict[str, Any]:
        """Hash every sample (one leaf each, `data.sample:train/000123`). `source` describes how a
        fresh process re-loads the same data (see `provenance.digests.datasets`); default `custom`.
        `leaves`: the samples' leaves already hashed elsewhere (by the ranks of a distributed
        job, `provenance.digests.sharding`); verification re-hashes the data all the same.
        `engine` ('local', 'dask' or an engine) or `shard_size`: commit to the data in shards, one
        `data.shard` leaf each, hashed on that engine (`provenance.digests.shards.tracking`); `train_data`
        may then also be a sharded source on disk (a folder, .tar or .parquet shards).

        `train_data` may also be where the data lives, so that `provenance verify` re-loads it: a
        path (a .npz/.npy, torch.save or CSV file; an image folder, webdataset tar, parquet or HF
        save_to_disk folder, committed in shards) or a descriptor (`provenance.digests.datasets`);
        a dataset that carries its source (`datasets.FileData`, an HF `Dataset` from
        `load_from_disk`) is recorded with it. Only data that exists in memory alone is `custom`."""
        started = time.perf_counter()
        refuse_secrets(source, "track_data source")  # it goes into record.json, the outbox and IPFS
        if source is None and test_data is None and leaves is None and isinstance(train_data, (str, os.PathLike, Mapping)):
            described = dict(train_data) if isinstance(train_data, Mapping) else None
            suffix = Path(train_data).suffix.lower() if described is None else ""
            if described is not None or suffix in datasets.FILE_SUFFIXES:
                train_data, test_data = datasets.open_files(described if described is not None else train_data)
            elif shard_size is None and engine is None:
                shard_size = shard_tracking.DEFAULT_SHARD_SIZE  # a folder, tar, parquet or HF folder: its own shards
        if source is None and leaves is None:
            source = datasets.source_of(train_data, test_data)
        # a FileData is hashed as its arrays, in bulk (the same leaves as item by item)
        train_data, test_data = (datasets.as_arrays(x) for x in (train_data, test_data))
        if leaves is None and (engine is not None or shard_size is not None):
            leaves, source = shard_tracking.shard_leaves_of(train_data, test_data, source, engine=engine,
                                                            shard_size=shard_size, run_dir=self.run_dir)
        if leaves is not None:
            leaves = list(leaves)
        else:
            leaves = kinds.make(kinds.DATA_SAMPLE, train_data, test_data)
        self._data_leaves = leaves
        self._datasets = (train_data, test_data)
        self.record.artifacts["dataset"] = dict(source or {"source": "custom"})
        self._timing("hash_data_s", started)
        counts = shard_tracking.counts(leaves)
        self.record.artifacts["dataset"] |= counts
        return counts

    def track_model(self, model: Any, *, param_leaves: Sequence[Leaf] | None = None) -> dict[str, Any]:
        """Hash and save the initial weights (one leaf per tensor). The model object is kept, so
        the epoch and post-training trees hash it again as it trains. `param_leaves`: the
        tensors' leaves already hashed elsewhere (as in `track_data`)."""
        started = time.perf_counter()
        self._model = model
        state = models.state_dict_of(model)
        params = self._param_leaves(state, param_leaves)
        data = models.save_weights(state, self.run_dir / INIT_MODEL_FILE)
        self._init_leaves = params + kinds.make(models.FILE_KIND, INIT_MODEL_FILE, data)
        self._stage_artifacts("pre")["model"] = INIT_MODEL_FILE
        self._timing("hash_model_s", started)
        return {"tensors": len(state), "parameters_bytes": sum(x.size for x in self._init_leaves if x.kind == models.PARAM_KIND)}

    def store_merkle_on_blockchain_before_training(self, training_config: Mapping[str, Any], *,
                                                   wait: bool = True) -> AnchorResult:
        """Build the pre-training tree (data, initial model, config, code, environment, the run's
        anchoring identity and a random nonce), save the record, and anchor the root if
        `store_before_training` is on. Refused, with nothing written, if called twice.

        `wait=False`: send the anchor and return without waiting for it to be mined (networks that
        cannot send without waiting are delivered in the background); the confirmation is awaited
        beside training, and every later stage's anchor goes out after it (chain order).

        Returns {network: receipt}, true only if some anchor reached its network (`submitted`
        counts: its transaction was sent)."""
        pre = next((s for s in self.record.stages if s.name == "pre"), None)
        if pre is not None:
            raise ProvenanceError(f"before training: expected one call per run, found the pre-training tree already built "
                                  f"(root 0x{pre.root.hex()}); nothing was written")
        if not self._data_leaves:
            raise ProvenanceError("before training: expected track_data() to be called first, found no data")
        started = time.perf_counter()
        _refuse_secrets_in_training_config(training_config)  # before anything is written
        config = dict(training_config)
        identity = self._identity_leaves()  # may need the node: asked before anything is written
        self.record.config = config
        atomic_write_json(self.run_dir / CONFIG_FILE, config)
        self.record.artifacts["config"] = CONFIG_FILE
        self.record.code = self._code.result() if self._code is not None else context.code_info(self._code_path, exclude=self.run_dir)
        self.record.environment = context.environment_info(self._lockfile)
        leaves = (
            self._data_leaves
            + self._init_leaves
            + kinds.make(kinds.CONFIG, config, self.record.value_encoding)
            + kinds.make(kinds.CODE, self.record.code)
            + kinds.make(kinds.ENVIRONMENT, self.record.environment)
            + identity
        )
        self.record.add_stage(Stage.build("pre", leaves, None, now_iso()))
        self._timing("build_pre_tree_s", started)
        return self._anchor_if("pre", "store_before_training", wait=wait, submit=not wait, save=True)

    def track_epoch(self, epoch: int, model: Any = None, metrics: Mapping[str, Any] | None = None, *,
                    privacy: Mapping[str, Any] | None = None, param_leaves: Sequence[Leaf] | None = None,
                    background: bool = False) -> bytes | None:
        """Record an epoch's metrics; with `store_epoch_checkpoints` on, save the checkpoint, build
        the epoch tree (chained to the previous root) and anchor it. Returns the epoch root, if any.

        `privacy`: the DP budget spent so far (`provenance.digests.privacy.Accounting.to_json()`), kept in
        the stage's metrics under "privacy" and as one `privacy` leaf per value.

        `background=True`: only a copy of the weights is taken now; the checkpoint, its tree and
        anchor are made in a background thread, in epoch order (returns None; the post-training
        tree, verification, `save` and `close` wait for them; an error there is raised by the
        next call)."""
        refuse_secrets(metrics, f"epoch {epoch} metrics")  # before they reach record.json, the outbox, IPFS
        metrics = _with_privacy(dict(metrics or {}) | {"epoch": epoch}, privacy)
        self._epoch_metrics.append(metrics)
        if not self.settings.storage_options.store_epoch_checkpoints:
            return None
        started = time.perf_counter()
        state = models.state_dict_of(model if model is not None else self._require_model())  # a copy: the snapshot
        audit = self._trail.end_epoch(epoch) if self._trail is not None else None  # written now: it reads the live optimizer
        if audit is not None:
            self._timing("audit_trail_s", started, accumulate=True)
        if background:
            given = list(param_leaves) if param_leaves is not None else None
            self._epochs.submit(lambda: self._epoch_tree(epoch, state, metrics, privacy, given, started, audit))
            return None
        self._epochs.finish()
        return self._epoch_tree(epoch, state, metrics, privacy, param_leaves, started, audit)

    # ------------------------------------------------------------------ proof of training (`provenance audit`)

    def _epoch_tree(self, epoch: int, state: dict[str, Any], metrics: dict[str, Any], privacy: Mapping[str, Any] | None,
                    param_leaves: Sequence[Leaf] | None, started: float, audit: tuple[list[Leaf], dict[str, Any]] | None = None) -> bytes:
        if self._epochs.in_worker:
            started = time.perf_counter()  # the background's own time, not its wait in the queue
        name = f"epoch-{epoch}"
        file_name = checkpoint_file(epoch)
        params = self._param_leaves(state, param_leaves)
        data = models.save_weights(state, self.run_dir / file_name)
        leaves = params + kinds.make(models.FILE_KIND, file_name, data) + _value_leaves(kinds.METRICS, metrics, privacy, self.record.value_encoding)
        if audit is not None:
            audit_leaves, replay = audit
            leaves += audit_leaves + kinds.make(train_state.REPLAY_KIND, replay, self.record.value_encoding)
            self._stage_artifacts(name)["replay"] = replay
            self._stage_artifacts(name)["audit_bytes"] = sum(x.size for x in audit_leaves if x.kind in (train_state.STATE_KIND, train_state.ORDER_KIND))
        self.record.add_stage(Stage.build(name, leaves, self._last_stage(), now_iso(), metrics))
        self._stage_artifacts(name)["model"] = file_name
        self._timing("epoch_trees_s", started, accumulate=True)
        self._anchor_epoch(name)
        return self.record.stage(name).root

    def store_merkle_on_blockchain_after_training(self, results: Mapping[str, Any], model: Any = None, *,
                                                  privacy: Mapping[str, Any] | None = None,
                                                  param_leaves: Sequence[Leaf] | None = None) -> AnchorResult:
        """Build the post-training tree (final weights, results, chained to the previous root),
        save the final model and the record, and anchor if `store_after_training` is on.
        `privacy`: the DP budget spent by the whole run (as in `track_epoch`)."""
        self._epochs.finish()
        started = time.perf_counter()
        refuse_secrets(results, "results")  # before they reach record.json, the outbox, IPFS
        results = dict(results)
        if self._epoch_metrics and "history" not in results:
            results["history"] = self._epoch_metrics
        results = _with_privacy(results, privacy)
        state = models.state_dict_of(model if model is not None else self._require_model())
        params = self._param_leaves(state, param_leaves)
        data = models.save_weights(state, self.run_dir / FINAL_MODEL_FILE)
        leaves = params + kinds.make(models.FILE_KIND, FINAL_MODEL_FILE, data) + _value_leaves(kinds.RESULTS, results, privacy, self.record.value_encoding)
        self.record.add_stage(Stage.build("post", leaves, self._last_stage(), now_iso(), results))
        self._stage_artifacts("post")["model"] = FINAL_MODEL_FILE
        self._timing("build_post_tree_s", started)
        return self._anchor_if("post", "store_after_training")

    # ------------------------------------------------------------------ anchors, verification, reports

    def save(self) -> Path:
        """Write the record (with the outbox's current receipts) atomically; returns its path."""
        self._epochs.finish()
        if self.anchors.enabled and self.record.receipts:
            self.anchors.sync_receipts(self.record)
        return self.record.save(self.run_dir / RECORD_FILE)

    @classmethod
    def load(cls, run_dir: str | Path, config: Mapping[str, Any] | str | Path | None = None, **kwargs: Any) -> ProvenanceTracker:
        """A tracker for an existing run folder (to anchor, verify or report on it later)."""
        run_dir = Path(run_dir)
        record = Record.load(run_dir / RECORD_FILE)
        tracker = cls(run_dir.parent, config, run_id=record.run_id, _attach=True, **kwargs)
        tracker.run_dir = run_dir
        tracker.record = record
        tracker._loaded = True
        return tracker

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _param_leaves(state: Mapping[str, Any], given: Sequence[Leaf] | None) -> list[Leaf]:
        if given is None:
            return kinds.make(models.PARAM_KIND, state)
        given = list(given)
        if [leaf.name for leaf in given] != list(state):
            raise ProvenanceError(f"param_leaves: expected one leaf per tensor of the model ({len(state)}), "
                                  f"in state-dict order, found {len(given)} leaves")
        return given

    def _stage_artifacts(self, stage: str) -> dict[str, Any]:
        return self.record.artifacts.setdefault("stages", {}).setdefault(stage, {})

    def _last_stage(self) -> Stage:
        stage = self.record.last_stage
        if stage is None:
            raise ProvenanceError("expected store_merkle_on_blockchain_before_training() first, found no pre-training tree")
        return stage

    def _require_model(self) -> Any:
        if self._model is None:
            raise ProvenanceError("expected track_model(model) first, or pass model=..., found no model")
        return self._model

    def _timing(self, key: str, started: float, accumulate: bool = False) -> None:
        elapsed = time.perf_counter() - started
        with self._timings_lock:  # the epoch thread adds its own
            self.record.timings[key] = round(self.record.timings.get(key, 0.0) * accumulate + elapsed, 6)


