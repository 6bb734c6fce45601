"""The example training job: a small CNN on digits (embedded) or MNIST (IDX files), with provenance."""

from .job import TrainOptions, run_training

__all__ = ["TrainOptions", "run_training"]
