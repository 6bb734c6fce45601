"""The project's data folder and atomic file writes.

Everything the tool keeps between runs (local chain state, deployments, the local content store,
node data, the outbox) lives under one folder: `$PROVENANCE_HOME`, else `./.provenance`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def data_home() -> Path:
    """The data folder, created on first use."""
    home = Path(os.environ.get("PROVENANCE_HOME") or Path.cwd() / ".provenance")
    home.mkdir(parents=True, exist_ok=True)
    return home


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename, so a
    crash leaves either the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: Path | str, value: Any) -> Path:
    """`atomic_write_bytes` of `value` as indented JSON with a final newline."""
    return atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())
