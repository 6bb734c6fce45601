"""The trainer's side of proof of training: what a later replay needs, written as the run trains
(`ProvenanceTracker.track_optimizer / track_batch_order / track_step`; the epoch trees get the
leaves, `provenance.digests.train_state` says what each file holds).

Per epoch: the sample order and the RNG states at its start (the epoch file), the training state
(weights, optimizer tensors, RNG, learning rate) at its end, and with `audit_every=N` after every
N optimizer steps in between; the start of training is a state file too (epoch 1, step 0). A
segment of the audit runs from one state file to the next. The settings a replay must match
(the step's name, batch size, sampler seed, determinism, threads, dtype, device, versions, exact
or tolerance mode) are the epoch tree's `train.replay` leaves.

Nothing here changes the training: the states are copies, the RNG states are read, never drawn.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..digests import models, train_state
from ..errors import ConfigError, ProvenanceError
from ..merkle import Leaf

DEFAULT_TOLERANCE = 0.01  # normalised distance (see `provenance.training.audit`) for runs that cannot be bit-exact


@dataclass(frozen=True)
class TrailOptions:
    """How a run commits to its training steps. `step`: the name of the training step a verifier
    replays (`provenance.training.replay.STEPS`); `tolerance`: None for bit-exact replay
    (deterministic CPU), else the normalised distance a replayed segment may be off by."""

    step: str
    batch_size: int
    sampler_seed: int | None = None
    audit_every: int | None = None
    tolerance: float | None = None

    def check(self) -> None:
        if not isinstance(self.step, str) or not self.step:
            raise ConfigError(f"step: expected the name of a training step, found {self.step!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch_size: expected a positive integer, found {self.batch_size!r}")
        if self.audit_every is not None and (isinstance(self.audit_every, bool) or not isinstance(self.audit_every, int) or self.audit_every < 1):
            raise ConfigError(f"audit_every: expected a positive number of steps, found {self.audit_every!r}")
        if self.tolerance is not None and not (isinstance(self.tolerance, (int, float)) and math.isfinite(self.tolerance) and self.tolerance > 0):
            raise ConfigError(f"tolerance: expected a positive number, found {self.tolerance!r}")


@dataclass
class AuditTrail:
    """Writes a run's replay material into `run_dir/audit/` and gives each epoch tree its leaves."""

    run_dir: Path
    model: Any
    optimizer: Any
    options: TrailOptions
    epoch: int = 0
    step: int = 0
    global_step: int = 0
    _order: np.ndarray | None = None
    _leaves: dict[str, list[Leaf]] = field(default_factory=dict)  # this epoch's file name -> its leaves
    bytes_written: int = 0

    def begin_epoch(self, order: Any) -> None:
        """The epoch's sample indices in the order they will be used; the RNG states are read now."""
        if self._order is not None:
            raise ProvenanceError(f"track_batch_order: expected one call per epoch, found a second before epoch {self.epoch + 1}'s track_epoch")
        indices = np.asarray(order.detach().cpu().numpy() if hasattr(order, "detach") else order).reshape(-1)
        if indices.dtype.kind not in "iu":
            raise ConfigError(f"batch order: expected integer sample indices, found dtype {indices.dtype}")
        self.epoch += 1
        self.step = 0
        self._order = indices.astype(np.int64)
        rng, meta = train_state.rng_tensors()
        if self.epoch == 1:  # the start of training: a segment's start like any other
            self._state(rng, meta)
        self._write(train_state.ORDER_KIND, train_state.epoch_name(self.epoch),
                    {"order": torch.from_numpy(self._order.copy())} | rng, meta | {"epoch": self.epoch})

    def after_step(self) -> None:
        """After each optimizer step: every `audit_every` steps, a state file."""
        if self._order is None:
            raise ProvenanceError("track_step: expected track_batch_order() at the epoch's start, found none")
        self.step += 1
        self.global_step += 1
        every = self.options.audit_every
        if every and self.step % every == 0:
            self._state(*train_state.rng_tensors())

    def end_epoch(self, epoch: int) -> tuple[list[Leaf], dict[str, Any]]:
        """The epoch's end state; every leaf of the epoch and its replay settings (for the tree)."""
        if self._order is None:
            raise ProvenanceError(f"epoch {epoch}: expected track_batch_order() at its start, found none (proof of training is on)")
        if epoch != self.epoch:
            raise ProvenanceError(f"epoch {epoch}: expected epoch {self.epoch}, the one whose batch order was given")
        self._state(*train_state.rng_tensors())
        leaves = [leaf for name in sorted(self._leaves) for leaf in self._leaves[name]]
        settings = self.settings()
        self._leaves, self._order = {}, None
        return leaves, settings

    def settings(self) -> dict[str, Any]:
        params = list(models.unwrap(self.model).parameters()) if hasattr(models.unwrap(self.model), "parameters") else []
        first = params[0] if params else None
        o = self.options
        return {
            "format": "provenance-replay/v1",
            "step": o.step,
            "batch_size": o.batch_size,
            "sampler_seed": o.sampler_seed,
            "audit_every": o.audit_every or 0,
            "samples": len(self._order) if self._order is not None else 0,
            "steps": self.step,
            "global_step": self.global_step,  # the schedule's position at the epoch's end
            "learning_rates": [float(g["lr"]) for g in self.optimizer.param_groups],
            "mode": "exact" if o.tolerance is None else "tolerance",
            "tolerance": o.tolerance,
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "threads": torch.get_num_threads(),
            "dtype": str(first.dtype).removeprefix("torch.") if first is not None else None,
            "device": first.device.type if first is not None else None,
            "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        }

    def _state(self, rng: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        tensors, groups = train_state.state_tensors(models.state_dict_of(self.model), self.optimizer)
        self._write(train_state.STATE_KIND, train_state.state_name(self.epoch, self.step), tensors | dict(rng),
                    dict(meta) | {"epoch": self.epoch, "step": self.step, "global_step": self.global_step, "param_groups": groups})

    def _write(self, kind: str, name: str, tensors: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        leaves = train_state.write(self.run_dir, kind, name, tensors, meta)
        self.bytes_written += leaves[0].size
        self._leaves[name] = leaves
