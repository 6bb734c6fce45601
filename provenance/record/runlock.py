"""One process at a time per run folder: an fcntl lock on `run_dir/.lock`, held while a training
(or a recovery) writes the folder, released when its descriptor closes (also when the process
dies, SIGKILL included, so a crashed run never stays locked)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import ConfigError

LOCK_FILE = ".lock"


def hold(run_dir: Path, run_id: str) -> int:
    """Take the run folder's lock (creating the folder); returns the descriptor to `release`.
    ConfigError (exit 2) if another process holds it."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ConfigError(f"run folder {run_dir}: expected a folder this process can write, found {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ConfigError(f"run id {run_id!r}: expected a run id not in use, found {run_dir} held by another "
                          "training (its .lock is taken); choose another --run-id, or wait for it to end") from None
    return fd


def release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock
