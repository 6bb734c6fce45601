"""Proof of training with the frameworks: a sampler whose epoch order is known before the epoch
runs, and replayers a verifier builds from its own copy of the training code.

The callbacks commit each epoch's sample order (`track_batch_order`). A shuffling sampler draws
its permutation lazily, inside the framework's loop, so its order cannot be read ahead;
`EpochOrderSampler` makes the order a pure function of (seed, epoch), the framework sets the
epoch (`set_epoch`), and the callback asks for the same order at the epoch's start. A
`SequentialSampler` (no shuffling) needs nothing: its order is 0..n-1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import Sampler, SequentialSampler

from ..errors import ProvenanceError
from ..training.replay import Replayer


class EpochOrderSampler(Sampler[int]):
    """A shuffling sampler whose epoch `e` order is `randperm(n)` from a generator seeded `seed + e`."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size, self.seed, self.epoch = int(size), int(seed), 0

    def order(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + epoch))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        return iter(self.order(self.epoch).tolist())

    def __len__(self) -> int:
        return self.size


def epoch_order(loader: Any, epoch: int) -> torch.Tensor:
    """The sample order `loader` will take in `epoch` (0-based), read before it runs."""
    sampler = effective_sampler(loader)
    if isinstance(sampler, EpochOrderSampler):
        return sampler.order(epoch)
    if isinstance(sampler, SequentialSampler):
        return torch.arange(len(sampler))
    raise ProvenanceError(f"proof of training: expected the train dataloader's sampler to be an EpochOrderSampler "
                          f"(provenance.integrations.sampling) or sequential, found {type(sampler).__name__}: "
                          "its order cannot be read before the epoch runs")


def effective_sampler(loader: Any) -> Any:
    """The sampler that orders the loader's samples: a batch sampler's (accelerate wraps one in
    another; the loader's own `.sampler` is then a default SequentialSampler nobody draws from)."""
    batches = getattr(loader, "batch_sampler", None)
    for inner in (getattr(batches, "batch_sampler", None), batches):
        if inner is not None and getattr(inner, "sampler", None) is not None:
            return inner.sampler
    return getattr(loader, "sampler", None)


def batch_replayer(name: str, build: Callable[[Mapping[str, Any]], tuple[Any, Any]],
                   loss: Callable[[Any, tuple[Any, Any], int], Any]) -> Replayer:
    """A replayer for a step `zero_grad; loss(model, (x[idx], y[idx]), k).backward(); step` over
    the committed (features, labels): what Lightning's automatic optimization runs without
    gradient clipping, accumulation or a scheduler. `build(config)` makes the verifier's model
    and optimizer as the committed config says."""

    def run(model: Any, optimizer: Any, train: tuple[Any, Any], order: torch.Tensor, batch_size: int,
            first: int, last: int, config: Mapping[str, Any]) -> None:
        features, labels = torch.as_tensor(train[0]), torch.as_tensor(train[1])
        model.train()
        for k in range(first, last):
            index = order[k * batch_size : (k + 1) * batch_size]
            optimizer.zero_grad()
            loss(model, (features[index], labels[index]), k).backward()
            optimizer.step()

    return Replayer(name, build, run)
