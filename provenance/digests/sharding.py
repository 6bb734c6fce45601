"""Hashing across the ranks of a torch.distributed job: each rank hashes its shard, rank 0 gets
every leaf, and the tree it builds is the one a single process would build.

- Data: rank r of W hashes the contiguous rows `[r*n//W, (r+1)*n//W)` of each split. Leaf names
  stay global (`train/000123`), so the gathered list equals `dataset_leaves(whole split)`.
- Model: DDP keeps a full replica of the weights on every rank, so each rank hashes only its part
  of the state dict: entries are dealt out largest first, each to the rank with the fewest bytes
  so far (ties to the lower rank), the same on every rank. Rank 0 saves the model file from its
  own replica; a verifier re-hashes that file tensor by tensor, so had replicas ever diverged,
  every tensor hashed from another replica would be named as changed.
- Failure: after hashing, every rank sends its status to every other (`all_gather_object`,
  bounded by the process group's timeout). If any rank failed, all of them raise the same
  one-line error naming the rank, and no tree is built; leaves go to rank 0 only after that.

`PROVENANCE_INJECT_HASH_FAILURE=RANK[:WHAT]` makes that rank raise while hashing (WHAT: a prefix
of `data train`, `data test`, `weights`; any when left out): a fault injection for tests of the
failure path, since no real component fails on cue.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from ..merkle.kinds import MODEL_PARAM
from ..errors import ProvenanceError, reason
from .hashing import dataset_leaves, state_dict_leaves
from ..merkle import Leaf

INJECT_ENV = "PROVENANCE_INJECT_HASH_FAILURE"


def shard_rows(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """The contiguous rows `[start, stop)` of `n` that `rank` hashes."""
    return n * rank // world_size, n * (rank + 1) // world_size


def tensor_owners(sizes: list[int], world_size: int) -> list[int]:
    """The rank that hashes each state-dict entry, balancing bytes (largest entries first)."""
    load = [0] * world_size
    owners = [0] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        rank = min(range(world_size), key=lambda r: (load[r], r))
        owners[i] = rank
        load[rank] += sizes[i]
    return owners


class ShardedHasher:
    """Collective hashing for one process group: every rank calls the same methods in the same
    order; rank 0 gets the full leaf lists, the other ranks get None."""

    def __init__(self, rank: int, world_size: int, group: Any = None) -> None:
        self.rank, self.world_size, self.group = rank, world_size, group

    def dataset_leaves(self, dataset: Any, split: str) -> list[Leaf] | None:
        rows = shard_rows(len(_rows_of(dataset)), self.rank, self.world_size)
        return self._collect(f"data {split}", lambda: dataset_leaves(dataset, split, rows=rows))

    def weight_leaves(self, state: Mapping[str, Any], kind: str = MODEL_PARAM) -> list[Leaf] | None:
        names = list(state)
        sizes = [int(v.numel() * v.element_size()) if hasattr(v, "numel") else int(v.nbytes) for v in state.values()]
        owners = tensor_owners(sizes, self.world_size)
        mine = {name: state[name] for name, owner in zip(names, owners) if owner == self.rank}
        gathered = self._collect("weights", lambda: state_dict_leaves(mine, kind=kind))
        if gathered is None:
            return None
        by_name = {leaf.name: leaf for leaf in gathered}
        return [by_name[name] for name in names]  # the state dict's order, as one process hashes it

    def _collect(self, what: str, compute: Callable[[], list[Leaf]]) -> list[Leaf] | None:
        import torch.distributed as dist

        leaves: list[Leaf] = []
        error = None
        try:
            _maybe_inject(self.rank, what)
            leaves = compute()
        except Exception as e:  # any failure on this rank must stop every rank, not hang them
            error = reason(e)
        statuses: list[Any] = [None] * self.world_size
        try:
            dist.all_gather_object(statuses, (self.rank, error), group=self.group)
        except Exception as e:  # a rank that died: the collective times out or is torn down
            raise ProvenanceError(f"hashing {what}: lost contact with the other ranks ({reason(e)}); no root was built") from None
        failed = [(r, msg) for r, msg in statuses if msg is not None]
        if failed:
            rank, msg = failed[0]
            raise ProvenanceError(f"rank {rank} of {self.world_size} failed while hashing {what}: {msg}; no root was built")
        parts: list[Any] = [None] * self.world_size if self.rank == 0 else None  # type: ignore[assignment]
        dist.gather_object(leaves, parts, dst=0, group=self.group)
        if self.rank != 0:
            return None
        return [leaf for part in parts for leaf in part]


def _rows_of(dataset: Any) -> Any:
    """Something whose length is the number of samples (the features of a pair)."""
    return dataset[0] if isinstance(dataset, tuple) and len(dataset) == 2 else dataset


def _maybe_inject(rank: int, what: str) -> None:
    spec = os.environ.get(INJECT_ENV)
    if not spec:
        return
    target, _, prefix = spec.partition(":")
    if target.strip() == str(rank) and what.startswith(prefix.strip()):
        raise ProvenanceError(f"injected failure ({INJECT_ENV}={spec})")
