"""Where shards come from: a folder of files, tar archives or Parquet, a Hugging Face dataset,
arrays in memory, or a run's descriptor."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import ConfigError, FormatError
from ..hashing import CANONICALIZATION
from .formats import _load_hf
from .refs import DEFAULT_SHARD_SIZE, FORMATS, SOURCE, ShardRef


def discover(source: str | os.PathLike[str], format: str = "auto", shard_size: int = DEFAULT_SHARD_SIZE) -> tuple[dict[str, Any], list[ShardRef]]:
    """The descriptor (how a verifier finds the same shards again) and the shards of `source`."""
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ConfigError(f"shard size: expected a positive integer, found {shard_size!r}")
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"{path}: expected a dataset file or folder, found nothing at that path")
    fmt = detect_format(path) if format == "auto" else format
    if fmt not in FORMATS or fmt == "arrays":
        raise ConfigError(f"dataset format: expected one of auto, files, tar, parquet, hf, found {format!r}")
    refs = {"files": _file_shards, "tar": _archive_shards, "parquet": _archive_shards, "hf": _hf_shards}[fmt](path, fmt, shard_size)
    if not refs:
        raise FormatError(f"{path}: expected at least one {fmt} shard, found none")
    descriptor = {"source": SOURCE, "format": fmt, "path": str(path.resolve()), "shard_size": shard_size,
                  "canonicalization": CANONICALIZATION, "shards": len(refs)}
    return descriptor, refs


def from_descriptor(descriptor: dict[str, Any]) -> list[ShardRef]:
    """The shards a descriptor written by `discover` names (re-listed from the source)."""
    if descriptor.get("source") != SOURCE:
        raise FormatError(f"dataset: expected source {SOURCE!r}, found {descriptor.get('source')!r}")
    return discover(str(descriptor.get("path")), str(descriptor.get("format")), int(descriptor.get("shard_size", DEFAULT_SHARD_SIZE)))[1]


def array_shards(features: Any, labels: Any, split: str = "train", shard_size: int = DEFAULT_SHARD_SIZE) -> list[ShardRef]:
    """Slices of `shard_size` rows of an in-memory `(features, labels)` split."""
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ConfigError(f"shard size: expected a positive integer, found {shard_size!r}")
    n = len(features)
    if len(labels) != n:
        raise FormatError(f"dataset {split!r}: expected as many labels as samples ({n}), found {len(labels)}")
    return [ShardRef(f"{split}-{k // shard_size:06d}", "arrays", split, rows=(k, min(n, k + shard_size)),
                     payload=(features[k : k + shard_size], labels[k : k + shard_size], n))
            for k in range(0, n, shard_size)]


def detect_format(path: Path) -> str:
    if path.is_file():
        for suffix, fmt in ((".tar", "tar"), (".parquet", "parquet")):
            if path.name.endswith(suffix):
                return fmt
        raise ConfigError(f"{path}: expected a folder, a .tar or a .parquet file, found another file")
    if (path / "dataset_info.json").is_file() and (path / "state.json").is_file():
        return "hf"
    names = [e.name for e in os.scandir(path) if not e.name.startswith(".")]
    for suffix, fmt in ((".tar", "tar"), (".parquet", "parquet")):
        if names and all(n.endswith(suffix) for n in names):
            return fmt
    return "files"


def _file_shards(path: Path, fmt: str, shard_size: int) -> list[ShardRef]:
    if not path.is_dir():
        raise ConfigError(f"{path}: the files format expects a folder, found a file")
    entries = sorted((e for e in os.scandir(path) if not e.name.startswith(".")), key=lambda e: e.name)
    dirs = [e.name for e in entries if e.is_dir()]
    files = [e.name for e in entries if not e.is_dir()]
    if dirs and files:
        raise FormatError(f"{path}: expected only sub-folders (one shard each) or only files, found {len(dirs)} folders and {len(files)} files")
    if dirs:
        return [ShardRef(name, fmt, str(path / name)) for name in dirs]
    return [ShardRef(f"files-{k // shard_size:06d}", fmt, str(path), files=tuple(files[k : k + shard_size]))
            for k in range(0, len(files), shard_size)]


def _archive_shards(path: Path, fmt: str, shard_size: int) -> list[ShardRef]:
    suffix = "." + fmt
    if path.is_file():
        return [ShardRef(path.name, fmt, str(path))]
    found = sorted(p for p in path.rglob("*" + suffix) if not p.name.startswith("."))
    return [ShardRef(p.relative_to(path).as_posix(), fmt, str(p)) for p in found]


def _hf_shards(path: Path, fmt: str, shard_size: int) -> list[ShardRef]:
    n = len(_load_hf(path))
    return [ShardRef(f"rows-{k // shard_size:06d}", fmt, str(path), rows=(k, min(n, k + shard_size))) for k in range(0, n, shard_size)]
