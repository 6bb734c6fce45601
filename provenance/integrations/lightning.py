"""Provenance for a PyTorch Lightning `Trainer`, as one callback.

    from provenance.integrations.lightning import ProvenanceCallback
    callback = ProvenanceCallback(base_dir="artifacts", data_source=provenance.digests.datasets.digits_descriptor())
    lightning.Trainer(callbacks=[callback], max_epochs=3).fit(model, datamodule)

What it records, through `provenance.ProvenanceTracker`, on global rank 0 only:

- `on_train_start` (inside `fit`, once the dataloaders exist, before the first step): the pre
  tree: every sample of the train dataloader's dataset (`train/...`) and of the first validation
  dataloader's (`test/...`), or the `datasets=` given; the initial weights; the module's
  `hparams` plus the trainer's settings as the training config; code and environment.
- `on_train_epoch_end`: one epoch tree (`epoch-N`, N from 1): the weights as they are and
  `trainer.callback_metrics` (the epoch's logged metrics, validation included).
- `on_fit_end`: the post tree: the final weights and final metrics, chained to the last epoch;
  with `log_to_mlflow=True`, then the verified run into MLflow (`provenance.integrations.mlflow`).

Each tree is anchored as the config's `storage_options` say. `data_source` is the dataset
descriptor a fresh process re-loads for `provenance verify` (`provenance.digests.datasets`); without it
the data is `custom` and a verifier must be handed it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import lightning.pytorch as pl

from .ownership import RunOwner
from ..errors import ProvenanceError
from . import active_mlflow_run, plain_json

TRAINER_SETTINGS = ("max_epochs", "max_steps", "accumulate_grad_batches", "gradient_clip_val", "precision",
                    "num_devices", "world_size")


class ProvenanceCallback(RunOwner, pl.Callback):
    """Pre, epoch and post trees of a Lightning `fit` (see the module docstring).

    Args:
        base_dir: folder that receives the run folder (`base_dir/<run_id>/`).
        config: provenance config (dict, path or None for the defaults and environment).
        data_source: dataset descriptor for verification in a fresh process.
        datasets: `(train, test)` to hash instead of the dataloaders' datasets.
        training_config: extra keys for the recorded training config (they win over hparams).
        log_to_mlflow: at the end, verify the run and log it into the active (or a new) MLflow run
            (`provenance.integrations.mlflow.log_run`).
        audit: proof of training (`provenance audit`): commit each epoch's sample order (the train
            dataloader's sampler must be an `EpochOrderSampler` or sequential), the RNG states, the
            optimizer's state and the learning rate; `audit_every=N` also a state every N steps.
        audit_step: the name of the training step a verifier replays (default `lightning:<module class>`).
        **tracker_kwargs: passed to `ProvenanceTracker` (`run_id`, `backends`, `code_path`, ...).
    """

    def __init__(self, base_dir: str | Path = "artifacts", config: Mapping[str, Any] | str | Path | None = None, *,
                 data_source: Mapping[str, Any] | None = None, datasets: tuple[Any, Any] | None = None,
                 training_config: Mapping[str, Any] | None = None, log_to_mlflow: bool = False,
                 audit: bool = False, audit_every: int | None = None, audit_step: str | None = None, **tracker_kwargs: Any) -> None:
        super().__init__()
        self.audit, self.audit_every, self.audit_step = audit or audit_every is not None, audit_every, audit_step
        self._hold_tracker_args(base_dir, config, tracker_kwargs, log_to_mlflow)
        self.data_source = dict(data_source) if data_source is not None else None
        self.datasets = datasets
        self.training_config = dict(training_config or {})
        self.metrics: dict[str, Any] = {}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        train, test = self.datasets if self.datasets is not None else (_train_dataset(trainer), _val_dataset(trainer))
        self._start().track_data(train, test, source=self.data_source)
        self.mlflow_run_id = next((getattr(x, "run_id", None) for x in trainer.loggers if type(x).__name__ == "MLFlowLogger"),
                                  None) or active_mlflow_run()
        self.tracker.track_model(pl_module)
        self.tracker.store_merkle_on_blockchain_before_training(self._training_config(trainer, pl_module))
        if self.audit:
            loader = _train_loader(trainer)
            self.tracker.track_optimizer(trainer.optimizers[0], step=self.audit_step or f"lightning:{type(pl_module).__qualname__}",
                                         batch_size=int(getattr(loader, "batch_size", 0) or 0),
                                         sampler_seed=getattr(getattr(loader, "sampler", None), "seed", None),
                                         audit_every=self.audit_every)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.audit and trainer.is_global_zero and self.tracker is not None and self.tracker.record.last_stage is not None:
            from .sampling import epoch_order

            self.tracker.track_batch_order(epoch_order(_train_loader(trainer), trainer.current_epoch))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.audit and trainer.is_global_zero and self.tracker is not None:
            self.tracker.track_step()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking or self.tracker is None or self.tracker.record.last_stage is None:
            return
        self.metrics = plain_json(trainer.callback_metrics) | {"global_step": trainer.global_step}
        self.tracker.track_epoch(trainer.current_epoch + 1, pl_module, self.metrics)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or self.tracker is None or self.tracker.record.last_stage is None:
            return  # no pre tree: fit stopped before training started, so there is no run to close
        results = plain_json(trainer.callback_metrics) | {"global_step": trainer.global_step,
                                                          "epochs": trainer.current_epoch}
        self.tracker.store_merkle_on_blockchain_after_training(results, pl_module)
        if self.log_to_mlflow:
            from .mlflow import log_run

            self.mlflow_run_id = log_run(self.tracker, mlflow_run_id=self.mlflow_run_id)
        self.tracker.close()  # the run is complete: free its folder's lock

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if self.tracker is not None:
            self.tracker.close()  # no post tree: the run stays incomplete (verification says INCOMPLETE)

    def _training_config(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        settings = {name: getattr(trainer, name) for name in TRAINER_SETTINGS if hasattr(trainer, name)}
        hparams = plain_json(dict(getattr(pl_module, "hparams", {}) or {}))
        return hparams | {"trainer": plain_json(settings), "module": type(pl_module).__qualname__} | plain_json(self.training_config)


def _train_loader(trainer: pl.Trainer) -> Any:
    loader = trainer.train_dataloader
    if isinstance(loader, (list, tuple)):
        loader = loader[0] if loader else None
    if isinstance(loader, Mapping):
        loader = next(iter(loader.values()), None)
    return loader


def _train_dataset(trainer: pl.Trainer) -> Any:
    loader = trainer.train_dataloader
    if isinstance(loader, (list, tuple)):
        loader = loader[0] if loader else None
    if isinstance(loader, Mapping):
        loader = next(iter(loader.values()), None)
    dataset = getattr(loader, "dataset", None)
    if dataset is None:
        raise ProvenanceError("lightning: expected a train dataloader with a .dataset, found none; pass datasets=(train, test)")
    return dataset


def _val_dataset(trainer: pl.Trainer) -> Any:
    """The first validation dataloader's dataset, or None when `fit` has no validation data."""
    loaders = trainer.val_dataloaders
    if loaders is None:
        # Validation data are loaded lazily (at the sanity check or the first validation); ask
        # the same source Lightning will ask.
        source = trainer.fit_loop.epoch_loop.val_loop._data_source
        if not source.is_defined():
            return None
        loaders = source.dataloader()
    if isinstance(loaders, (list, tuple)):
        loaders = loaders[0] if loaders else None
    return getattr(loaders, "dataset", None)
