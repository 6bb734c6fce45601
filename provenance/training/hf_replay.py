"""Replaying a Hugging Face `Trainer` step (`provenance audit` of a run made with the HF callback's
`audit=True`): the verifier's own `transformers` builds the model, optimizer, LR schedule, collator
and loss from the committed config; nothing of the run folder is executed.

The run commits the `TrainingArguments` (screened, `provenance.integrations.huggingface.training_config`),
the model's class name (a class of the verifier's installed `transformers`, never imported from
elsewhere) and its model config (`model_config`, JSON). A replay makes a `Trainer` from those
arguments and runs, per optimizer step, what `Trainer._run_epoch` runs with one process and no
gradient accumulation: `training_step` (forward, loss with `num_items_in_batch`, backward), gradient
clipping to `max_grad_norm`, the optimizer's step, the schedule's step, `zero_grad`. The schedule's
position is the verifier's (steps of the epochs before plus the segment's first step), not a number
the run states. Settings that step does not replay are refused at training time (`refusal`).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import FormatError
from .replay import Replayer

STEP_NAME = "huggingface.trainer/v1"

# The TrainingArguments a replay's Trainer is made from: those that shape one optimizer step.
REPLAY_ARGS = ("learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "optim", "optim_args",
               "optim_target_modules", "lr_scheduler_type", "lr_scheduler_kwargs", "warmup_steps", "warmup_ratio",
               "max_grad_norm", "num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
               "seed", "label_smoothing_factor", "average_tokens_across_devices", "dataloader_drop_last")


def refusal(args: Any) -> str | None:
    """Why `args` (TrainingArguments) make a run whose steps this replay cannot reproduce, or None."""
    get = lambda name, default=None: getattr(args, name, default)
    checks = [
        (get("gradient_accumulation_steps", 1) != 1, f"gradient_accumulation_steps 1, found {get('gradient_accumulation_steps')}"),
        (bool(get("fp16") or get("bf16")), "fp32 training, found fp16/bf16 mixed precision"),
        (get("world_size", 1) != 1 or get("n_gpu", 0) > 1, f"one process on one device, found world size {get('world_size')}, {get('n_gpu')} GPUs"),
        ((get("max_steps") or 0) > 0, f"epochs (max_steps -1), found max_steps {get('max_steps')}"),
        (float(get("num_train_epochs", 1)) != int(get("num_train_epochs", 1)), f"a whole number of epochs, found {get('num_train_epochs')}"),
        (bool(get("dataloader_drop_last")), "dataloader_drop_last off, found on"),
        ((get("dataloader_num_workers") or 0) != 0, f"dataloader_num_workers 0, found {get('dataloader_num_workers')}"),
        (bool(get("gradient_checkpointing")), "gradient_checkpointing off, found on"),
        (bool(get("torch_compile")), "torch_compile off, found on"),
        (get("neftune_noise_alpha") is not None, "neftune_noise_alpha None, found a value"),
        (str(getattr(get("lr_scheduler_type"), "value", get("lr_scheduler_type"))) in ("reduce_lr_on_plateau", "greedy"),
         f"a step-driven LR schedule, found {get('lr_scheduler_type')}"),
    ]
    bad = [what for failed, what in checks if failed]
    return f"proof of training with the Hugging Face Trainer: expected {bad[0]}" if bad else None


def transformers_model(config: Mapping[str, Any]) -> Any:
    """The committed model, built by the verifier: `model_class` must name a `PreTrainedModel`
    class of the installed `transformers`, made from the committed `model_config` (weights come
    from the committed start state)."""
    import transformers

    name, model_config = config.get("model_class"), config.get("model_config")
    cls = getattr(transformers, name, None) if isinstance(name, str) and name.isidentifier() else None
    if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
        raise FormatError(f"config model_class: expected a PreTrainedModel class of transformers, found {name!r}")
    if not isinstance(model_config, dict):
        raise FormatError(f"config model_config: expected the model's config as a JSON object, found {type(model_config).__name__}")
    return cls(cls.config_class.from_dict(model_config))


def training_steps(config: Mapping[str, Any], samples: int, batch_size: int) -> int:
    """The Trainer's `max_steps` for an epoch-driven run (what its LR schedule spans)."""
    epochs = config.get("num_train_epochs")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not 0 < epochs <= 1e6:
        raise FormatError(f"config num_train_epochs: expected a positive number, found {epochs!r}")
    return math.ceil(epochs * math.ceil(samples / batch_size))


_TRAINERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # optimizer -> the replay's Trainer


def _arguments(config: Mapping[str, Any], output_dir: str) -> Any:
    from transformers import TrainingArguments

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    kept = {k: config[k] for k in REPLAY_ARGS if k in config and k in fields and config[k] is not None}
    args = TrainingArguments(output_dir=output_dir, report_to=[], use_cpu=True, disable_tqdm=True, save_strategy="no", **kept)
    if (why := refusal(args)) is not None:
        raise FormatError(why)
    return args


def hf_replayer(name: str, build_model: Callable[[Mapping[str, Any]], Any] = transformers_model) -> Replayer:
    """A replayer for runs of the HF callback with `audit=True, audit_step=name`; `build_model(config)`
    makes the verifier's model (default: a `transformers` class from the committed model config)."""

    def build(config: Mapping[str, Any]) -> tuple[Any, Any]:
        from transformers import Trainer

        model = build_model(config)
        folder = tempfile.mkdtemp(prefix="provenance-hf-replay-")
        try:
            trainer = Trainer(model=model, args=_arguments(config, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        optimizer = trainer.create_optimizer()
        _TRAINERS[optimizer] = trainer
        return model, optimizer

    def run(model: Any, optimizer: Any, train: Any, order: Any, batch_size: int, first: int, last: int,
            config: Mapping[str, Any], *, global_step: int) -> None:
        trainer = _TRAINERS[optimizer]
        args = trainer.args
        if batch_size != args.per_device_train_batch_size:
            raise FormatError(f"replay batch_size {batch_size} differs from per_device_train_batch_size {args.per_device_train_batch_size}")
        # the schedule as the Trainer made it, at the verifier's position (not the run's stated lr)
        for group in optimizer.param_groups:
            group.pop("initial_lr", None)
            group["lr"] = args.learning_rate
        trainer.lr_scheduler = None
        scheduler = trainer.create_scheduler(training_steps(config, len(train), batch_size), optimizer)
        lambdas = getattr(scheduler, "lr_lambdas", None)
        if lambdas is None:
            raise FormatError(f"lr_scheduler_type {args.lr_scheduler_type}: expected a LambdaLR schedule")
        scheduler.last_epoch = global_step
        for group, base, schedule in zip(optimizer.param_groups, scheduler.base_lrs, lambdas):
            group["lr"] = base * schedule(global_step)
        dataset = trainer._remove_unused_columns(train, description="training")
        trainer.optimizer = optimizer
        for k in range(first, last):
            inputs = trainer.data_collator([dataset[int(i)] for i in order[k * batch_size : (k + 1) * batch_size]])
            count = trainer._get_num_items_in_batch([inputs], args.device)
            trainer.current_gradient_accumulation_steps = 1
            trainer.training_step(model, inputs, count)
            if args.max_grad_norm > 0:
                trainer._clip_grad_norm(model)
            optimizer.step()
            scheduler.step()
            model.zero_grad()

    return Replayer(name, build, run, positioned=True)


REPLAYER = hf_replayer(STEP_NAME)
