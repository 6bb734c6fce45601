"""Training with provenance: `ProvenanceTracker` (the API a training loop calls) and the example
job, a small CNN on digits (embedded) or MNIST (IDX files), with its variants (DP, gradient
shards, distributed). The job's names load on first use, so `import provenance` needs no torch."""

from __future__ import annotations

from typing import Any

__all__ = ["TrainOptions", "run_training"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import job

        return getattr(job, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
