"""How the example job trains an epoch: one variant, chosen once from the options (`job.py`).

- `Plain`: one process; each batch's mean loss, one backward pass.
- `Sharded` (`gradient_shards=W`): each batch split into W contiguous shards whose gradients (of
  the summed loss over the shard, divided by the batch size) are added in shard order. That is
  what a W-rank DDP job with the ordered-sum hook of `distributed.py` computes, so one process
  reproduces a distributed run bit for bit (same thread count).
- `Distributed` (under torchrun): rank r trains on shard r of each batch; the ordered-sum hook adds
  the ranks' gradients, and the loss sums are gathered on rank 0 in (batch, shard) order.
- `Private` (`dp=True`): DP-SGD with Opacus (`dp.py`) on Poisson batches; the privacy spent after
  each epoch goes into that epoch's tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from .distributed import Cluster
    from .dp import PrivateTraining


class Variant(Protocol):
    def epoch(self) -> tuple[float, dict[str, Any] | None]:
        """Train one epoch: the mean training loss (0.0 on ranks other than 0) and the privacy
        spent so far (None without DP)."""

    def spent(self) -> dict[str, Any] | None:
        """The privacy spent so far (None without DP)."""


@dataclass
class Plain:
    net: nn.Module
    optimizer: torch.optim.Optimizer
    features: torch.Tensor
    labels: torch.Tensor
    generator: torch.Generator | None
    batch_size: int
    tracker: Any = None  # a ProvenanceTracker committing the batch order and steps (proof of training), or None

    def epoch(self) -> tuple[float, dict[str, Any] | None]:
        return _ordered_sum(self.passes()) / len(self.labels), None

    def passes(self) -> list[float]:
        """One epoch over a fresh permutation; the loss sums in (batch, shard) order."""
        order = torch.randperm(len(self.labels), generator=self.generator).to(self.features.device)
        if self.tracker is not None:
            self.tracker.track_batch_order(order)
        return self.steps(order)

    def steps(self, order: torch.Tensor, first: int = 0, last: int | None = None) -> list[float]:
        """Optimizer steps `first` to `last - 1` of an epoch over `order` (all by default): the
        training and the proof-of-training audit's replay of a stretch of it run this same code."""
        sums: list[float] = []
        count = -(-len(order) // self.batch_size)
        for k in range(first, count if last is None else last):
            self.optimizer.zero_grad()
            sums += self.step(order[k * self.batch_size : (k + 1) * self.batch_size])
            self.optimizer.step()
            if self.tracker is not None:
                self.tracker.track_step()
        return sums

    def step(self, batch: torch.Tensor) -> list[float]:
        loss = nn.functional.cross_entropy(self.net(self.features[batch]), self.labels[batch])
        loss.backward()
        return [loss.item() * len(batch)]

    def spent(self) -> dict[str, Any] | None:
        return None


@dataclass
class Sharded(Plain):
    shards: int = 1

    def step(self, batch: torch.Tensor) -> list[float]:
        return [self.shard_step(part, len(batch)) for part in torch.tensor_split(batch, self.shards)]

    def shard_step(self, part: torch.Tensor, batch_len: int) -> float:
        total = nn.functional.cross_entropy(self.net(self.features[part]), self.labels[part], reduction="sum")
        (total / batch_len).backward()  # summed over shards (in order) = the full batch's mean-loss gradient
        return total.item()


@dataclass
class Distributed(Sharded):
    cluster: Cluster | None = None

    def step(self, batch: torch.Tensor) -> list[float]:
        if self.shards == 1:  # a world of one: the plain step, as one process would take it
            return Plain.step(self, batch)
        return [self.shard_step(torch.tensor_split(batch, self.shards)[self.cluster.rank], len(batch))]

    def epoch(self) -> tuple[float, dict[str, Any] | None]:
        per_rank = self.cluster.gather(self.passes())  # a collective: every rank takes part
        if per_rank is None:  # not rank 0
            return 0.0, None
        return _ordered_sum([v for batch in zip(*per_rank) for v in batch]) / len(self.labels), None


@dataclass
class Private:
    private: PrivateTraining

    def epoch(self) -> tuple[float, dict[str, Any] | None]:
        total, seen = 0.0, 0
        for xb, yb in self.private.batches():
            self.private.optimizer.zero_grad()
            loss = nn.functional.cross_entropy(self.private.module(xb), yb)
            loss.backward()
            self.private.optimizer.step()  # a Poisson batch can be empty: Opacus still adds the noise and counts the step
            if len(yb):
                total += loss.item() * len(yb)
                seen += len(yb)
        return total / max(seen, 1), self.spent()

    def spent(self) -> dict[str, Any] | None:
        return self.private.spent().to_json()


def _ordered_sum(values: list[float]) -> float:
    """Added one by one in the order given, so the total does not depend on how shards were spread."""
    total = 0.0
    for value in values:
        total += value
    return total
