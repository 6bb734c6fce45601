"""One process at a time per run folder: a POSIX record lock (`fcntl.lockf`) on `run_dir/.lock`,
held while a training (or a recovery) writes the folder, released when its descriptor closes
(also when the process dies, SIGKILL included, so a crashed run never stays locked).

A record lock belongs to the process, not to the open file: a child forked by any thread (git,
the chain node, a background anchor) between a fork and its exec never holds it, so a closed
tracker's lock is free at once (an `flock` was shared with such a child until it exec'd). Record
locks do not exclude the process's own threads, so the locks this process holds are also kept in
a set, checked before anything is opened (closing any descriptor of the file would drop the lock).
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from ..errors import ConfigError
from ..files import LOCK_FILE

_HELD: dict[int, tuple[int, int]] = {}  # descriptor -> (device, inode) of the lock files held here
_GUARD = threading.Lock()


def hold(run_dir: Path, run_id: str) -> int:
    """Take the run folder's lock (creating the folder); returns the descriptor to `release`.
    ConfigError (exit 2) if another process, or another tracker of this one, holds it."""
    with _GUARD:
        path = run_dir / LOCK_FILE
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) in _HELD.values():
                raise _in_use(run_id, run_dir)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise ConfigError(f"run folder {run_dir}: expected a folder this process can write, found {e.strerror or e}") from None
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as e:
            raise ConfigError(f"run folder {run_dir}: expected a folder this process can write, found {e.strerror or e}") from None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _in_use(run_id, run_dir) from None
        st = os.fstat(fd)
        _HELD[fd] = (st.st_dev, st.st_ino)
        return fd


def release(fd: int | None) -> None:
    if fd is not None:
        with _GUARD:
            _HELD.pop(fd, None)
            os.close(fd)  # closing the descriptor releases the record lock


def _in_use(run_id: str, run_dir: Path) -> ConfigError:
    return ConfigError(f"run id {run_id!r}: expected a run id not in use, found {run_dir} held by another "
                       "training (its .lock is taken); choose another --run-id, or wait for it to end")
