"""The tracker's proof-of-training calls (`provenance audit` replays what they commit)."""

from __future__ import annotations

import time
from typing import Any

from ..errors import ConfigError, ProvenanceError


class AuditTracking:
    """The proof-of-training half of `ProvenanceTracker` (`tracker.py`)."""

    def track_optimizer(self, optimizer: Any, *, step: str, batch_size: int, sampler_seed: int | None = None,
                        audit_every: int | None = None, tolerance: float | None = None) -> None:
        """Commit what a replay of training needs (`provenance.training.audit_trail`): from now on
        each epoch tree holds the epoch's sample order, the RNG states at its start, the training
        state (weights, every `optimizer` state tensor, RNG, learning rate) at its end and, with
        `audit_every=N`, after every N optimizer steps; files under `audit/` in the run folder.
        Then call `track_batch_order(order)` at each epoch's start and `track_step()` after each
        optimizer step. `step` names the training step a verifier replays (`provenance.training.replay`);
        `tolerance`: None for bit-exact replay (deterministic CPU), else the normalised distance
        a replayed segment may be off by (GPU kernels). Call after `track_model`, before the first step."""
        from .audit_trail import AuditTrail, TrailOptions

        options = TrailOptions(step, batch_size, sampler_seed, audit_every, tolerance)
        options.check()
        if self._trail is not None:
            raise ProvenanceError("track_optimizer: expected one call per run, found a second")
        if not self.settings.storage_options.store_epoch_checkpoints:
            raise ConfigError("track_optimizer: proof of training commits into the epoch trees; expected "
                              "storage_options.store_epoch_checkpoints on, found it off")
        self._trail = AuditTrail(self.run_dir, self._require_model(), optimizer, options)

    def track_batch_order(self, order: Any) -> None:
        """At an epoch's start: its sample indices in the order the batches will take them."""
        if self._trail is None:
            raise ProvenanceError("track_batch_order: expected track_optimizer() first, found none")
        started = time.perf_counter()
        self._trail.begin_epoch(order)
        self._timing("audit_trail_s", started, accumulate=True)

    def track_step(self) -> None:
        """After each optimizer step (a state file every `audit_every` steps)."""
        if self._trail is not None:
            every = self._trail.options.audit_every
            started = time.perf_counter() if every else 0.0
            self._trail.after_step()
            if every and self._trail.step % every == 0:
                self._timing("audit_trail_s", started, accumulate=True)
