"""Provenance for a Hugging Face `transformers.Trainer`, as one `TrainerCallback`.

    from provenance.integrations.huggingface import ProvenanceCallback
    callback = ProvenanceCallback("artifacts", train_dataset=train, eval_dataset=test, data_source=hf_disk_descriptor(folder))
    Trainer(model=model, args=args, train_dataset=train, eval_dataset=test, callbacks=[callback]).train()

What it records, through `provenance.ProvenanceTracker`, in the main process only:

- `on_train_begin` (before the first step): the pre tree: one leaf per row of the train and eval
  datasets (`train/...`, `test/...`; a `datasets.Dataset` is hashed from its Arrow buffers,
  `provenance-arrow-row/v1`, see `provenance.digests.arrow_rows`), the initial weights, the screened
  `TrainingArguments` as the training config (see `training_config`), code and environment.
- `on_epoch_end`: one epoch tree (`epoch-N`): the weights and the values logged during that epoch
  (`state.log_history`; the Trainer evaluates after this hook, so an epoch's eval metrics land in
  the next tree and in the post tree).
- `on_train_end`: the post tree: final weights and the last value of every logged metric
  (eval metrics and the Trainer's train summary included), chained to the last epoch; with
  `log_to_mlflow=True`, then the verified run into MLflow (`provenance.integrations.mlflow`).

Without `train_dataset=`, the dataloaders' datasets are hashed: with `remove_unused_columns` those
are copies without the columns the model does not take, so give the datasets themselves when
`data_source` names a folder (`provenance.digests.datasets.hf_disk_descriptor`) that `provenance verify`
re-loads; the data are `custom` otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from .ownership import RunOwner
from ..config import SECRET_WORDS
from . import active_mlflow_run, plain_json

# TrainingArguments that never go into a record: credentials, where things are pushed, and this
# machine's paths (they differ per machine and say nothing about the training).
DROPPED_EXACT = frozenset({
    "output_dir", "logging_dir", "run_name", "resume_from_checkpoint", "push_to_hub", "push_to_hub_model_id",
    "push_to_hub_organization", "deepspeed", "fsdp_config", "accelerator_config", "local_rank",
})
DROPPED_PREFIXES = ("hub_",)
DROPPED_WORDS = (*SECRET_WORDS, "credential", "api_key")


def training_config(args: TrainingArguments | Mapping[str, Any]) -> dict[str, Any]:
    """The `TrainingArguments` a run records: every field but the dropped ones (tokens and
    anything named like a secret, `hub_*`, output and logging paths; names listed under
    `"dropped_training_arguments"`), as plain JSON values."""
    values = args.to_dict() if hasattr(args, "to_dict") else dict(args)
    kept, dropped = {}, []
    for key, value in sorted(values.items()):
        lower = key.lower()
        if (key in DROPPED_EXACT or lower.startswith(DROPPED_PREFIXES) or lower.endswith("token")
                or any(word in lower for word in DROPPED_WORDS)):
            dropped.append(key)
        else:
            kept[key] = value
    return plain_json(kept) | {"dropped_training_arguments": dropped}


class ProvenanceCallback(RunOwner, TrainerCallback):
    """Pre, epoch and post trees of a `Trainer.train()` (see the module docstring).

    Args:
        base_dir: folder that receives the run folder (`base_dir/<run_id>/`).
        config: provenance config (dict, path or None for the defaults and environment).
        train_dataset: the training dataset to hash (default: the train dataloader's).
        eval_dataset: the evaluation dataset to hash (default: the eval dataloader's).
        data_source: dataset descriptor for verification in a fresh process.
        extra_config: extra keys for the recorded training config (they win).
        log_to_mlflow: at the end, verify the run and log it into the active (or a new) MLflow run
            (`provenance.integrations.mlflow.log_run`).
        **tracker_kwargs: passed to `ProvenanceTracker` (`run_id`, `backends`, `code_path`, ...).
    """

    def __init__(self, base_dir: str | Path = "artifacts", config: Mapping[str, Any] | str | Path | None = None, *,
                 train_dataset: Any = None, eval_dataset: Any = None, data_source: Mapping[str, Any] | None = None,
                 extra_config: Mapping[str, Any] | None = None, log_to_mlflow: bool = False, **tracker_kwargs: Any) -> None:
        self._hold_tracker_args(base_dir, config, tracker_kwargs, log_to_mlflow)
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.data_source = dict(data_source) if data_source is not None else None
        self.extra_config = dict(extra_config or {})
        self._logged = 0  # entries of state.log_history already put into a tree

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        train = self.train_dataset if self.train_dataset is not None else _dataset(kwargs.get("train_dataloader"))
        test = self.eval_dataset if self.eval_dataset is not None else _dataset(kwargs.get("eval_dataloader"))
        self._start().track_data(train, test, source=self.data_source)
        self.mlflow_run_id = active_mlflow_run()  # HF's MLflowCallback may end its run before ours is logged
        self.tracker.track_model(kwargs["model"])
        config = training_config(args) | {"model_class": type(kwargs["model"]).__qualname__} | plain_json(self.extra_config)
        self.tracker.store_merkle_on_blockchain_before_training(config)
        self._logged = len(state.log_history)

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self.tracker is None or self.tracker.record.last_stage is None:
            return
        metrics = _last_values(state.log_history[self._logged:]) | {"global_step": state.global_step}
        self._logged = len(state.log_history)
        self.tracker.track_epoch(int(round(state.epoch or 0)), kwargs["model"], metrics)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self.tracker is None or self.tracker.record.last_stage is None:
            return
        results = _last_values(state.log_history) | {"global_step": state.global_step, "epochs": state.epoch}
        self.tracker.store_merkle_on_blockchain_after_training(results, kwargs["model"])
        if self.log_to_mlflow:
            from .mlflow import log_run

            self.mlflow_run_id = log_run(self.tracker, mlflow_run_id=self.mlflow_run_id)
        self.tracker.close()  # the run is complete: free its folder's lock


def _dataset(loader: Any) -> Any:
    return getattr(loader, "dataset", None) if loader is not None else None


def _last_values(entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The last value of each key over the Trainer's log entries (`step`/`epoch` bookkeeping aside)."""
    merged: dict[str, Any] = {}
    for entry in entries:
        merged.update({k: v for k, v in entry.items() if k not in ("step", "epoch")})
    return plain_json(merged)
