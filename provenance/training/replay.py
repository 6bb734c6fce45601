"""The training steps a verifier can replay, by the name a run commits (`train.replay:step`).

A replay runs the verifier's own code, never code from the run folder: the run only names a step
of this table, and the committed config (learning rate, gradient shards) parameterises it. Our
job's step is `variants.Plain.steps` itself, so a replay runs exactly the code that trained.
Integrations whose steps are user code (a LightningModule's `training_step`) are replayed with a
`Replayer` the verifier builds from its own copy of that code (`provenance.training.audit.audit_run(steps=...)`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import FormatError
from . import variants
from .model import SmallCNN

STEP_NAME = "provenance.smallcnn-adam/v1"


@dataclass(frozen=True)
class Replayer:
    """`build(config)`: a fresh model and its optimizer as the run made them; `run(model,
    optimizer, train, order, batch_size, first, last, config)`: optimizer steps `first` to
    `last - 1` of an epoch whose samples come in `order` (a 1-d int64 tensor) from `train`;
    `positioned`: `run` also takes `global_step=`, the optimizer steps before `first` over the
    whole run, counted by the verifier (what an LR schedule needs)."""

    name: str
    build: Callable[[Mapping[str, Any]], tuple[nn.Module, torch.optim.Optimizer]]
    run: Callable[..., None]
    positioned: bool = False


def _number(config: Mapping[str, Any], key: str, default: Any = None) -> Any:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise FormatError(f"config {key}: expected a positive number for the replay, found {value!r}")
    return value


def _smallcnn_build(config: Mapping[str, Any]) -> tuple[nn.Module, torch.optim.Optimizer]:
    model = SmallCNN()
    return model, torch.optim.Adam(model.parameters(), lr=float(_number(config, "learning_rate")))


def _smallcnn_run(model: nn.Module, optimizer: torch.optim.Optimizer, train: tuple[Any, Any], order: torch.Tensor,
                  batch_size: int, first: int, last: int, config: Mapping[str, Any]) -> None:
    x, y = train
    features, labels = torch.as_tensor(x), torch.as_tensor(y)
    shards = _number(config, "gradient_shards", 1)
    if not isinstance(shards, int) or shards > 1024:
        raise FormatError(f"config gradient_shards: expected an integer up to 1024, found {shards!r}")
    if shards > 1:
        variant: variants.Plain = variants.Sharded(model, optimizer, features, labels, None, batch_size, shards=shards)
    else:
        variant = variants.Plain(model, optimizer, features, labels, None, batch_size)
    model.train()
    variant.steps(order, first, last)


STEPS: dict[str, Replayer] = {STEP_NAME: Replayer(STEP_NAME, _smallcnn_build, _smallcnn_run)}
