"""Reading one shard's samples as leaves, format by format: files, tar archives, Parquet, Hugging
Face datasets, in-memory arrays."""

from __future__ import annotations

import datetime
import decimal
import json
import os
import stat
import tarfile
from pathlib import Path
from typing import Any, Iterator, Sequence

from blake3 import blake3

from ...errors import ConfigError, FormatError
from ...merkle import Leaf
from ...merkle.kinds import DATA_SAMPLE as SAMPLE_KIND
from ..hashing import dataset_leaves, file_leaves, hash_file
from .refs import ShardError, ShardRef


def _files_leaves(ref: ShardRef) -> list[Leaf]:
    root = Path(ref.path)
    if not ref.files:  # a sub-folder shard: every file below it, named from the dataset folder
        if not root.is_dir():
            raise ShardError(f"shard {ref.id}: expected a folder at {root}, found none")
        return [Leaf(SAMPLE_KIND, f"{ref.id}/{leaf.name}", leaf.digest, leaf.size) for leaf in file_leaves(root, SAMPLE_KIND)]
    leaves = []
    for name in ref.files:
        file = root / name
        st = os.stat(file)
        if not stat.S_ISREG(st.st_mode):
            raise ShardError(f"shard {ref.id}: {file}: expected a regular file, found another kind of entry")
        leaves.append(Leaf(SAMPLE_KIND, name, *hash_file(file)))
    return leaves


def _tar_leaves(ref: ShardRef) -> list[Leaf]:
    fast = _plain_tar_leaves(ref.path)
    return fast if fast is not None else _tarfile_leaves(ref)


_BLOCK = 512


_ZERO_BLOCK = bytes(_BLOCK)


def _plain_tar_leaves(path: str) -> list[Leaf] | None:
    """The leaves of an archive of plain ustar headers (regular files and directories, checksums
    right, nothing truncated), parsed here about ten times faster than `tarfile` does; None for
    anything else (pax or GNU headers, links, a bad checksum), which `_tarfile_leaves` then
    reads (and, where it must, refuses). Both give the same leaves for the archives both read."""
    with open(path, "rb") as f:
        data = f.read()
    view = memoryview(data)
    leaves: list[Leaf] = []
    offset = 0
    while offset + _BLOCK <= len(data):
        block = data[offset : offset + _BLOCK]
        if block == _ZERO_BLOCK:
            return leaves
        kind, magic = block[156:157], block[257:263]
        if kind not in (b"0", b"\0", b"5") or magic not in (b"ustar\x00", b"ustar ") or block[124] & 0x80:
            return None
        try:
            size = int(block[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
            checksum = int(block[148:156].split(b"\0", 1)[0].strip(), 8)
            name = block[0:100].split(b"\0", 1)[0].decode("utf-8")
            prefix = block[345:500].split(b"\0", 1)[0].decode("utf-8")
        except ValueError:  # UnicodeDecodeError included
            return None
        if checksum != sum(block[:148]) + 256 + sum(block[156:]):
            return None
        is_dir = kind == b"5" or (kind == b"\0" and name.endswith("/"))  # tarfile's reading of old V7 dirs
        name = f"{prefix}/{name}" if prefix else name  # as tarfile: the prefix field whatever the magic
        start, stop = offset + _BLOCK, offset + _BLOCK + size
        if stop > len(data):
            return None
        if is_dir:
            if size:
                return None
        else:
            leaves.append(Leaf(SAMPLE_KIND, name, blake3(view[start:stop]).digest(), size))
        offset = start + -(-size // _BLOCK) * _BLOCK
    return None  # no end-of-archive block: let tarfile judge


def _tarfile_leaves(ref: ShardRef) -> list[Leaf]:
    leaves = []
    with tarfile.open(ref.path, mode="r:") as archive:
        for member in archive:
            if member.isdir():
                continue
            if not member.isfile():
                raise ShardError(f"shard {ref.id}: member {member.name}: expected a regular file, found a link or special entry")
            f = archive.extractfile(member)
            assert f is not None
            hasher, size = blake3(), 0
            while chunk := f.read(1 << 20):
                hasher.update(chunk)
                size += len(chunk)
            if size != member.size:
                raise ShardError(f"shard {ref.id}: member {member.name}: expected {member.size} bytes, found {size}")
            leaves.append(Leaf(SAMPLE_KIND, member.name, hasher.digest(), size))
    return leaves


def _parquet_leaves(ref: ShardRef) -> list[Leaf]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(ref.path)
    width = max(6, len(str(max(0, parquet.metadata.num_rows - 1))))
    return _row_leaves(parquet.iter_batches(batch_size=4096), 0, width)


def _hf_leaves(ref: ShardRef) -> list[Leaf]:
    table = _load_hf(Path(ref.path)).data.table
    start, stop = ref.rows
    width = max(6, len(str(max(0, table.num_rows - 1))))
    return _row_leaves(table.slice(start, stop - start).to_batches(max_chunksize=4096), start, width)


def _array_leaves(ref: ShardRef) -> list[Leaf]:
    features, labels, n = ref.payload
    start = ref.rows[0]
    width = max(6, len(str(n - 1)))
    local = dataset_leaves((features, labels), ref.path)
    return [Leaf(SAMPLE_KIND, f"{ref.path}/{start + i:0{width}d}", leaf.digest, leaf.size) for i, leaf in enumerate(local)]


_LEAVES = {"files": _files_leaves, "tar": _tar_leaves, "parquet": _parquet_leaves, "hf": _hf_leaves, "arrays": _array_leaves}


def _load_hf(path: Path) -> Any:
    try:
        import datasets
    except ImportError:
        raise ConfigError("the hf format needs the `datasets` package (pip install datasets)") from None
    return datasets.load_from_disk(str(path))


def row_bytes(columns: Sequence[tuple[str, str]], values: Sequence[Any]) -> bytes:
    """`arrow-row-json/v1` of one row: `columns` are (name, arrow type) pairs."""
    row = [[name, type_, _json_value(v)] for (name, type_), v in zip(columns, values)]
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _row_leaves(batches: Iterator[Any], start: int, width: int) -> list[Leaf]:
    leaves: list[Leaf] = []
    index = start
    for batch in batches:
        columns = [(f.name, str(f.type)) for f in batch.schema]
        values = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for r in range(batch.num_rows):
            data = row_bytes(columns, [col[r] for col in values])
            leaves.append(Leaf(SAMPLE_KIND, f"{index:0{width}d}", blake3(data).digest(), len(data)))
            index += 1
    return leaves


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return [[str(k), _json_value(v)] for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal)):
        return str(value)
    raise FormatError(f"parquet value: expected a JSON-encodable Arrow value, found {type(value).__name__}")
