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

Proof of training (`provenance audit`), with `audit=True` and `AuditedTrainer` (a `Trainer` whose
train sampler is an `EpochOrderSampler` seeded with `data_seed` or `seed`, so each epoch's order is
known before it runs): each epoch tree also commits the epoch's sample order, the RNG states at its
first step, the optimizer's state and learning rate at its end (and every `audit_every` steps),
and the pre tree's config the model's class and config; a verifier replays drawn segments with
its own `transformers` (`provenance.training.hf_replay`). Settings that replay does not
reproduce (gradient accumulation, fp16/bf16, several processes, max_steps, ...) are refused
before training starts, in one line.

Without `train_dataset=`, the dataloaders' datasets are hashed: with `remove_unused_columns` those
are copies without the columns the model does not take, so give the datasets themselves when
`data_source` names a folder (`provenance.digests.datasets.hf_disk_descriptor`) that `provenance verify`
re-loads; the data are `custom` otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.data.data_collator import default_data_collator

from ..config import SECRET_WORDS
from ..errors import ConfigError
from ..training import hf_replay
from . import active_mlflow_run, plain_json
from .ownership import RunOwner

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
        audit: proof of training (see the module docstring; train with `AuditedTrainer`);
            `audit_every=N` also a state every N optimizer steps.
        audit_step: the name of the step a verifier replays (default `huggingface.trainer/v1`,
            which `provenance audit` replays for a model class of `transformers`).
        **tracker_kwargs: passed to `ProvenanceTracker` (`run_id`, `backends`, `code_path`, ...).
    """

    def __init__(self, base_dir: str | Path = "artifacts", config: Mapping[str, Any] | str | Path | None = None, *,
                 train_dataset: Any = None, eval_dataset: Any = None, data_source: Mapping[str, Any] | None = None,
                 extra_config: Mapping[str, Any] | None = None, log_to_mlflow: bool = False, audit: bool = False,
                 audit_every: int | None = None, audit_step: str | None = None, **tracker_kwargs: Any) -> None:
        self.audit, self.audit_every, self.audit_step = audit or audit_every is not None, audit_every, audit_step
        self._order_due = False  # an epoch began: its order and RNG are taken at its first step
        self._epoch = 0
        self._hold_tracker_args(base_dir, config, tracker_kwargs, log_to_mlflow)
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.data_source = dict(data_source) if data_source is not None else None
        self.extra_config = dict(extra_config or {})
        self._logged = 0  # entries of state.log_history already put into a tree

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        model = kwargs["model"]
        config = training_config(args) | {"model_class": type(model).__qualname__}
        if self.audit:
            self._check_audit(args, kwargs.get("train_dataloader"))
            config["model_config"] = plain_json(model.config.to_dict()) if hasattr(model, "config") else None
        train = self.train_dataset if self.train_dataset is not None else _dataset(kwargs.get("train_dataloader"))
        test = self.eval_dataset if self.eval_dataset is not None else _dataset(kwargs.get("eval_dataloader"))
        self._start().track_data(train, test, source=self.data_source)
        self.mlflow_run_id = active_mlflow_run()  # HF's MLflowCallback may end its run before ours is logged
        self.tracker.track_model(model)
        self.tracker.store_merkle_on_blockchain_before_training(config | plain_json(self.extra_config))
        self._logged = len(state.log_history)
        if self.audit:
            sampler = _sampler(kwargs.get("train_dataloader"))
            optimizer = kwargs["optimizer"]
            self.tracker.track_optimizer(getattr(optimizer, "optimizer", optimizer), step=self.audit_step or hf_replay.STEP_NAME,
                                         batch_size=args.per_device_train_batch_size, sampler_seed=getattr(sampler, "seed", None),
                                         audit_every=self.audit_every)

    def _check_audit(self, args: TrainingArguments, loader: Any) -> None:
        from .sampling import epoch_order

        why = hf_replay.refusal(args)
        if why is not None:
            raise ConfigError(why)
        epoch_order(loader, 0)  # raises unless the order can be read before the epoch runs (AuditedTrainer)

    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self._order_due = self.audit and state.is_world_process_zero and self.tracker is not None

    def on_step_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        # At the epoch's first step, not at on_epoch_begin: the Trainer makes the epoch's iterator
        # in between, and that draws from the torch RNG (the DataLoader's base seed).
        if self._order_due and self.tracker is not None and self.tracker.record.last_stage is not None:
            from .sampling import epoch_order

            self._order_due = False
            self.tracker.track_batch_order(epoch_order(kwargs.get("train_dataloader"), self._epoch))
            self._epoch += 1

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if self.audit and state.is_world_process_zero and self.tracker is not None:
            self.tracker.track_step()

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


class AuditedTrainer(Trainer):
    """A `Trainer` for proof of training: its train sampler is an `EpochOrderSampler` (epoch e's
    order is `randperm` seeded `data_seed or seed` + e, readable before the epoch runs), and it
    refuses what a verifier's replay (`provenance.training.hf_replay`) does not reproduce: an
    optimizer, loss or collator of your own (the replay makes the Trainer's defaults from the
    committed arguments)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        own = [name for name, given in (
            ("optimizers", self.optimizer is not None or self.lr_scheduler is not None or self.optimizer_cls_and_kwargs is not None),
            ("compute_loss_func", self.compute_loss_func is not None),
            ("data_collator", self.data_collator is not default_data_collator),
            ("training_step", type(self).training_step is not Trainer.training_step),
            ("compute_loss", type(self).compute_loss is not Trainer.compute_loss)) if given]
        if own:
            raise ConfigError(f"AuditedTrainer: expected the Trainer's own optimizer, loss and collator (a verifier replays "
                              f"those), found a custom {own[0]}")

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        from .sampling import EpochOrderSampler

        dataset = train_dataset if train_dataset is not None else self.train_dataset
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return EpochOrderSampler(len(dataset), seed=seed)


def _sampler(loader: Any) -> Any:
    from .sampling import effective_sampler

    return effective_sampler(loader)


def _dataset(loader: Any) -> Any:
    return getattr(loader, "dataset", None) if loader is not None else None


def _last_values(entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The last value of each key over the Trainer's log entries (`step`/`epoch` bookkeeping aside)."""
    merged: dict[str, Any] = {}
    for entry in entries:
        merged.update({k: v for k, v in entry.items() if k not in ("step", "epoch")})
    return plain_json(merged)
