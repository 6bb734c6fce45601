"""A command whose optional dependency is not installed says, in one line, which extra to install,
and exits 2 (no traceback). torch is installed here, so the test puts a stand-in first on the path
that fails to import as a missing torch does (the fault: a machine without the `train` extra)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_train_without_torch_names_the_extra(tmp_path):
    stand_in = tmp_path / "without_torch"
    stand_in.mkdir()
    (stand_in / "torch.py").write_text('raise ModuleNotFoundError("No module named \'torch\'", name="torch")\n')
    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(stand_in), str(root)]), PROVENANCE_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, "-m", "provenance.cli", "train", "--epochs", "1", "--base-dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: expected torch installed for this command, found it missing: pip install 'ml-provenance[train]'"
    ]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing half-written
