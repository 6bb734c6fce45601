"""Walking a folder of files safely: regular files only, names that are UTF-8, no symlink followed
out of it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import FormatError, ProvenanceError
from ..files import file_kind


def _stat(path: Path, shown: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise FormatError(f"{shown}: expected a file, found a dangling symlink") from None
        raise FormatError(f"{shown}: expected a file or directory, found nothing at that path") from None
    except OSError as e:
        raise ProvenanceError(f"cannot read {shown}: {e.strerror or e}") from None


def _regular_file_size(path: Path, shown: Path) -> int:
    st = _stat(path, shown)
    if not stat.S_ISREG(st.st_mode):
        hint = " (use file_leaves for a directory)" if stat.S_ISDIR(st.st_mode) else ""
        raise FormatError(f"{shown}: expected a regular file, found {_file_type(st.st_mode)}{hint}")
    return st.st_size


def _walk(root: Path, folder: Path, prefix: str) -> Iterator[tuple[str, Path, int]]:
    """`(relative name, path, size)` of every file below `folder`, following file symlinks."""
    try:
        entries = list(os.scandir(folder))
    except OSError as e:
        raise ProvenanceError(f"cannot list {folder}: {e.strerror or e}") from None
    for entry in entries:
        name = _utf8_name(prefix + entry.name, Path(entry.path))
        path = Path(entry.path)
        if entry.is_symlink():
            st = _stat(path, path)
            if stat.S_ISDIR(st.st_mode):
                raise FormatError(f"{path}: expected a regular file, found a symlink to a directory (not followed)")
        else:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                yield from _walk(root, path, name + "/")
                continue
        if not stat.S_ISREG(st.st_mode):
            raise FormatError(f"{path}: expected a regular file, found {_file_type(st.st_mode)}")
        yield name, path, st.st_size


def _utf8_name(name: str, path: Path) -> str:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise FormatError(f"{path!s:.200}: expected a UTF-8 file name, found undecodable bytes") from None
    return name


def _file_type(mode: int) -> str:
    return "a directory" if stat.S_ISDIR(mode) else file_kind(mode)
