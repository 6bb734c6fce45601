"""The torchrun entry point: `provenance train`'s options, on every rank of a distributed job.

    torchrun --nproc-per-node 2 -m provenance.cli.torchrun --epochs 3 [train options]

The job itself is `provenance.training.distributed`; errors are one line with the CLI's exit codes
(`exits.py`), prefixed with the rank that hit them.
"""

from __future__ import annotations

from typing import Any

import click
import torch
import torch.distributed as dist

from ..errors import ProvenanceError
from ..training import run_training
from ..training.distributed import init
from .exits import ProvenanceCommand
from .runs import options_from, report_training, training_options


@click.command(cls=ProvenanceCommand, context_settings={"help_option_names": ["-h", "--help"]})
@training_options
@click.option("--backend", type=click.Choice(["auto", "gloo", "nccl"]), default="auto", show_default=True,
              help="auto: nccl when CUDA is available, else gloo.")
@click.option("--timeout-s", type=click.FloatRange(min=1), default=600.0, show_default=True,
              help="How long a collective (hashing status, gathers, gradients) waits for a silent rank.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads per rank (recorded in the config)  [default: torch's, 1 under torchrun]")
def command(backend: str, timeout_s: float, threads: int | None, **params: Any) -> None:
    """Distributed training with provenance: run under `torchrun --nproc-per-node N -m provenance.cli.torchrun`."""
    cluster = init(backend, timeout_s)
    try:
        options = options_from(params, gradient_shards=cluster.world_size, threads=threads or torch.get_num_threads())
        result = run_training(options, cluster)
        if cluster.rank == 0:
            report_training(result, options.epochs, params["as_json"])
    except ProvenanceError as e:
        raise ProvenanceError(f"[rank {cluster.rank}/{cluster.world_size}] {e}") from None
    except dist.DistError as e:  # a peer that died or timed out in a collective
        raise ProvenanceError(f"[rank {cluster.rank}/{cluster.world_size}] torch.distributed: {' '.join(str(e).split())[:300]}") from None
    finally:
        dist.destroy_process_group()


def main() -> None:
    command.main(prog_name="provenance.cli.torchrun")


if __name__ == "__main__":
    main()
