"""Run the `provenance` command in a fresh process, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`provenance ARGS` in a new interpreter; the environment (data folder, chain port) is inherited."""
    return subprocess.run(
        [sys.executable, "-m", "provenance.cli", *args], capture_output=True, text=True, cwd=cwd or ROOT, env=env
    )
