"""The training job on several processes with torch.distributed (DDP), launched by torchrun
(the entry point is `provenance.cli.torchrun`):

    torchrun --nproc-per-node 2 -m provenance.cli.torchrun --epochs 3 [train options]

Backend gloo on CPU, NCCL when CUDA is available (`--backend` to choose). Rank r trains on shard r
of each global batch (contiguous, `torch.tensor_split`); gradients are combined by an ordered-sum
hook (each rank's shard gradient gathered and added in rank order) instead of DDP's default
all-reduce, whose summation order belongs to the backend. With it, a W-rank run computes exactly
what `provenance train --gradient-shards W --threads T` computes in one process (T: each rank's
thread count, 1 under torchrun), so the two runs have the same roots: pre, every epoch, post.

Hashing is sharded (`provenance.digests.sharding`): every rank hashes its rows of the data and its share
of the state dict; rank 0 gathers the leaves, builds the trees, anchors and writes the record,
with the world size and sharding scheme in the record's `artifacts.distributed`. A rank that fails
while hashing fails every rank with the same one-line error, before any tree is built.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError
from ..digests.sharding import ShardedHasher


@dataclass
class Cluster:
    """This process's place in the job, and the collectives the training job needs."""

    rank: int
    world_size: int
    backend: str
    device: torch.device
    hasher: ShardedHasher

    def describe(self) -> dict[str, Any]:
        return {
            "world_size": self.world_size, "backend": self.backend,
            "data_sharding": "contiguous rows per rank", "tensor_sharding": "largest first to the least loaded rank",
            "gradient_reduction": "ordered sum of shard gradients (rank order)",
        }

    def wrap(self, model: nn.Module) -> nn.Module:
        # A 1-channel conv's weight gradient has strides DDP's bucket does not expect: a copy
        # of 144 floats per step, not an error; the warning would only alarm.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        ids = [self.device.index] if self.device.type == "cuda" else None
        ddp = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        ddp.register_comm_hook(None, ordered_sum_hook)
        return ddp

    def gather(self, value: Any) -> list[Any] | None:
        """`value` of every rank, in rank order, on rank 0 (None elsewhere)."""
        parts: list[Any] | None = [None] * self.world_size if self.rank == 0 else None
        dist.gather_object(value, parts, dst=0)
        return parts

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` on every rank."""
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def ordered_sum_hook(state, bucket):  # unannotated: DDP checks annotations against the real classes
    """DDP comm hook (`state` unused, `bucket` a `dist.GradBucket`, returns a future of the
    reduced bucket): the sum of every rank's gradient bucket, added in rank order.

    Each rank computes the gradient of its shard's summed loss divided by the global batch size,
    so the sum (not the mean) is the global batch's gradient; adding in a fixed order makes it
    bit-identical to one process adding the shard gradients in the same order. It moves W times
    a bucket instead of an all-reduce's ~2: fine for models this size, and the price of roots
    that do not depend on how the backend orders its additions."""
    buffer = bucket.buffer()
    parts = [torch.empty_like(buffer) for _ in range(dist.get_world_size())]
    future = dist.all_gather(parts, buffer, async_op=True).get_future()

    def add(_: Any) -> torch.Tensor:
        total = parts[0].clone()
        for part in parts[1:]:
            total.add_(part)
        return total

    return future.then(add)


def init(backend: str = "auto", timeout_s: float = 600.0) -> Cluster:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT, LOCAL_RANK)."""
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ConfigError(f"expected to run under torchrun (environment {', '.join(missing)} missing); "
                          "launch with: torchrun --nproc-per-node N -m provenance.cli.torchrun ...")
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    device = torch.device("cpu")
    if backend == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    rank, world = dist.get_rank(), dist.get_world_size()
    return Cluster(rank, world, backend, device, ShardedHasher(rank, world))
