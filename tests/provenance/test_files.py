"""Atomic writes (`provenance.files`): the file gets 0666 less the umask, as a plain open() would
(0644 under 0022, 0640 under 0027), and a failed write leaves the old file and no temporary."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import pytest

from provenance.errors import ConfigError
from provenance.files import atomic_write_bytes, atomic_write_json


@contextmanager
def umask(value: int):
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_mode_follows_the_umask(tmp_path, mask, expected):
    with umask(mask):
        path = atomic_write_bytes(tmp_path / "f.bin", b"data")
        replaced = atomic_write_json(tmp_path / "g.json", {"a": 1})
        atomic_write_json(replaced, {"a": 2})  # a replacement gets the umask's mode too
    assert mode(path) == expected and mode(replaced) == expected
    assert path.read_bytes() == b"data" and replaced.read_text() == '{\n  "a": 2\n}\n'


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write_bytes(tmp_path / "f.bin", b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_a_symlink_at_the_target_is_refused_neither_followed_nor_replaced(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me")
    link = tmp_path / "run" / "record.json"
    link.parent.mkdir()
    link.symlink_to(outside)
    with pytest.raises(ConfigError, match="expected a regular file or nothing to write to, found a symlink"):
        atomic_write_bytes(link, b"new")
    assert outside.read_bytes() == b"keep me"
    assert link.is_symlink() and [p.name for p in link.parent.iterdir()] == ["record.json"]
