"""The part both training-framework callbacks share: a tracker made only when training starts.

Every process of a distributed job builds the callback, and only one may own the run, so the
tracker (and its run folder) is made on the main process at the start hook, not in `__init__`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..training.tracker import ProvenanceTracker


class RunOwner:
    """Holds the tracker's arguments until `_start`; `tracker` and `run_dir` are None before."""

    def _hold_tracker_args(self, base_dir: str | Path, config: Any, tracker_kwargs: dict[str, Any],
                           log_to_mlflow: bool) -> None:
        self._tracker_args = (base_dir, config, tracker_kwargs)
        self.tracker: ProvenanceTracker | None = None
        self.log_to_mlflow = log_to_mlflow
        self.mlflow_run_id: str | None = None

    @property
    def run_dir(self) -> Path | None:
        """The run folder, once training has started (None before, and on other processes)."""
        return self.tracker.run_dir if self.tracker is not None else None

    def _start(self) -> ProvenanceTracker:
        base_dir, config, kwargs = self._tracker_args
        self.tracker = ProvenanceTracker(base_dir, config, **kwargs)
        return self.tracker
