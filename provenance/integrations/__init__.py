"""Provenance inside the trainers people already use, one module per framework, each imported
only when asked for (importing `provenance` never imports a framework):

- `provenance.integrations.lightning.ProvenanceCallback` for `lightning.Trainer`;
- `provenance.integrations.huggingface.ProvenanceCallback` for `transformers.Trainer`;
- `provenance.integrations.mlflow.log_run` to put a run's roots, anchors and verdict into MLflow.

Each callback drives a `provenance.ProvenanceTracker`: pre tree before the first step, one epoch
tree per epoch, post tree at the end, anchored as the config says.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

__all__ = ["plain_json"]


def plain_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` as JSON-safe plain values: tensors and numpy scalars become numbers, NaN/inf and
    objects JSON cannot hold become their `str`, so a metric or hyperparameter is never dropped
    silently nor written as something the record cannot hash."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        out[str(key)] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if callable(getattr(value, "tolist", None)):  # torch tensors, numpy arrays and scalars
        value = value.tolist()
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return plain_json(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def active_mlflow_run() -> str | None:
    """The id of the MLflow run active in this process, if MLflow is in use (never imports it)."""
    import sys

    mlflow = sys.modules.get("mlflow")
    active = mlflow.active_run() if mlflow is not None and hasattr(mlflow, "active_run") else None
    return active.info.run_id if active is not None else None
