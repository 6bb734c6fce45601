"""The project's data folder, reading the files a record names, and atomic file writes.

Everything the tool keeps between runs (local chain state, deployments, the local content store,
node data, the outbox) lives under one folder: `$PROVENANCE_HOME`, else `./.provenance`.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from pathlib import Path
from typing import Any

from .errors import ConfigError, FormatError

HOME_ENV = "PROVENANCE_HOME"


def data_home() -> Path:
    """The data folder, created on first use."""
    home = Path(os.environ.get(HOME_ENV) or Path.cwd() / ".provenance")
    return make_folder(home, f"${HOME_ENV}" if os.environ.get(HOME_ENV) else "the data folder")


def check_folder(path: Path | str, what: str) -> Path:
    """`path` if it is a folder or can be made one (nothing on the way to it is a file); else a
    one-line ConfigError naming `what`. Creates nothing."""
    path = Path(path)
    absolute = Path(os.path.abspath(path))  # `..` resolved by name, as mkdir would walk it
    for part in (absolute, *absolute.parents):
        if part.is_dir():
            return path
        if part.exists() or part.is_symlink():
            kind = "a broken or looping symlink" if part.is_symlink() and not part.exists() else "a file"
            where = "" if part == absolute else f" ({part} on the way to it)"
            raise ConfigError(f"{what}: expected a folder, found {kind} at {path}{where}")
    return path


def make_folder(path: Path | str, what: str) -> Path:
    """`path` created as a folder (with its parents); a one-line ConfigError if it cannot be."""
    path = check_folder(path, what)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{what}: expected a folder that can be created, found {path}: {e.strerror or e}") from None
    return path


def read_file(path: Path | str, what: str) -> bytes:
    """The bytes of the regular file at `path`, which a record names as `what` ("model file",
    "config file"); a one-line FormatError if it is absent, a folder, a symlink loop or unreadable."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{what} {path} not found") from None
    except IsADirectoryError:
        raise FormatError(f"{what} {path}: expected a regular file, found a folder") from None
    except OSError as e:
        found = "a symlink loop" if e.errno == errno.ELOOP else e.strerror or type(e).__name__
        raise FormatError(f"{what} {path}: expected a readable regular file, found {found}") from None


def read_json(path: Path | str, what: str) -> Any:
    """The JSON value in the file at `path` (after `read_file`'s checks); a one-line FormatError
    if its bytes are not UTF-8 JSON."""
    try:
        return json.loads(read_file(path, what).decode("utf-8"))
    except UnicodeDecodeError:
        raise FormatError(f"{what} {path}: expected UTF-8 JSON, found bytes that are not UTF-8") from None
    except json.JSONDecodeError as e:
        raise FormatError(f"{what} {path}: expected JSON, found invalid JSON ({e.msg} at line {e.lineno})") from None


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder, fsync and a rename, so
    a crash leaves either the old file or the new one, never half of one.

    The file gets the mode a plain `open(path, "w")` would give (0666 less the umask: 0644 under
    0022, 0640 under 0027), so teammates can read a run on a shared folder; `mkstemp`'s 0600
    would hide it. The kernel applies the umask (and any default ACL) at creation, so nothing
    reads or changes the process's umask, which other threads share."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new file beside `path`, opened for writing, with mode 0666 less the umask. O_EXCL: never
    an existing file or a symlink planted under the name; a fresh random name on a collision."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "expected a free temporary name, found 100 taken", str(path.parent))


def atomic_write_json(path: Path | str, value: Any) -> Path:
    """`atomic_write_bytes` of `value` as indented JSON with a final newline."""
    return atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())
