"""Datasets cut into shards, and the hashing of one shard: its samples' leaves and their tree.

A sharded dataset is committed to in two levels (`provenance-merkle/v1`, nested; see
`merkle.reference.nested_root`): each shard is a standard tree of its samples' `data.sample`
leaves, and the run's tree holds one `data.shard` leaf per shard, `(data.shard, <shard id>,
<shard root>, <sample count>)`. A worker needs only a `ShardRef` (where the shard is) to hash
it, and sends back only a `ShardResult` (id, root, count, bytes), so nothing on the coordinator
grows with the number of samples.

Sources and their samples (canonicalisation `provenance-canonical/v1`, names within a shard):

- `files`: a folder of files. When the folder holds only sub-folders, each sub-folder is one
  shard (id: its name; listed by the worker that hashes it, the layout to use at scale);
  when it holds only files, consecutive groups of `shard_size` files in name order are shards
  (id `files-000000`, ...; the names are listed once on the coordinator). A sample is one file:
  digest blake3 of its raw bytes, size its length, name its path relative to the folder.
- `tar`: a `.tar` file or a folder of them (webdataset shards); each archive is one shard (id:
  its path relative to the folder). A sample is one regular member, in archive order: digest
  blake3 of the member's raw bytes, size its length, name the member name (a webdataset sample
  `000123.jpg` + `000123.txt` is two leaves). Directory members carry no bytes and are skipped;
  any other member type (link, device) is an error.
- `parquet`: a `.parquet` file or a folder of them; each file is one shard (id: its path
  relative to the folder). A sample is one row, name its row number in the file (`000123`),
  canonical bytes `arrow-row-json/v1` (below), size their length.
- `hf`: a Hugging Face dataset saved with `save_to_disk` (needs `datasets`); rows in groups
  of `shard_size` (id `rows-000000`), each row in `arrow-row-json/v1`, named by its row number.
- `arrays`: `(features, labels)` in memory, split `split`, cut into slices of `shard_size`
  rows (id `<split>-000000`); samples exactly today's `data.sample` leaves (named
  `<split>/000123` by their index in the whole split), so a shard's tree is the standard tree of
  a slice of `hashing.dataset_leaves`.

`arrow-row-json/v1`: the UTF-8 bytes of the JSON array `[[column, arrow type, value], ...]`
over the schema's columns in order (`json.dumps(..., separators=(",", ":"), ensure_ascii=False,
allow_nan=False)`); `arrow type` is pyarrow's `str(field.type)`; values as pyarrow's `to_pylist`
gives them, with a float written as `float.hex()` in a string (exact, NaN and inf included),
bytes as lowercase hex in a string, a struct as `[[key, value], ...]` in field order, date,
time, timestamp and decimal values as `str(value)`.
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import signal
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from blake3 import blake3

from ..merkle.kinds import DATA_SAMPLE as SAMPLE_KIND
from ..errors import ConfigError, FormatError, ProvenanceError
from .hashing import CANONICALIZATION, dataset_leaves, file_leaves, hash_file
from ..merkle import Leaf, MerkleTree
from ..merkle.reference import SHARD_KIND

KILL_ENV = "PROVENANCE_INJECT_WORKER_KILL"  # a marker file: the one worker task that removes it is killed

SOURCE = "shards"  # the dataset descriptor's `source`
ROW_ENCODING = "arrow-row-json/v1"
FORMATS = ("files", "tar", "parquet", "hf", "arrays")
DEFAULT_SHARD_SIZE = 10_000


class ShardError(ProvenanceError):
    """One shard could not be read or hashed; the message names it."""


@dataclass(frozen=True)
class ShardRef:
    """Everything a worker needs to hash one shard; small except for in-memory slices.

    `path` is the shard's file or folder (for `hf` the dataset folder); `files` the names of a
    flat-folder group; `rows` the `[start, stop)` rows of an `hf` or `arrays` shard; `payload`
    the slice `(features, labels)` of an `arrays` shard and its split's full length."""

    id: str
    format: str
    path: str = ""
    files: tuple[str, ...] = ()
    rows: tuple[int, int] = (0, 0)
    payload: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ShardResult:
    """What travels back from a worker: the shard's id, root, sample count and bytes hashed."""

    id: str
    root: bytes
    count: int
    nbytes: int

    @property
    def leaf(self) -> Leaf:
        return Leaf(SHARD_KIND, self.id, self.root, self.count)


@dataclass(frozen=True)
class ShardFailure:
    """A shard that cannot be read: a value, not an exception, so the engine does not retry it."""

    id: str
    message: str


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


def shard_leaves(ref: ShardRef) -> list[Leaf]:
    """The sample leaves of one shard, in shard order (a sample's index in the shard is its
    position here). Errors are `ShardError`s naming the shard."""
    try:
        return _LEAVES[ref.format](ref)
    except ShardError:
        raise
    except (ProvenanceError, OSError, tarfile.TarError, ValueError, ImportError) as e:
        raise ShardError(f"shard {ref.id}: {' '.join(str(e).split()) or type(e).__name__}") from None
    except Exception as e:  # pyarrow's own errors and other readers' failures
        raise ShardError(f"shard {ref.id}: {type(e).__name__}: {' '.join(str(e).split())[:300]}") from None


def shard_tree(ref: ShardRef) -> MerkleTree:
    leaves = shard_leaves(ref)
    if not leaves:
        raise ShardError(f"shard {ref.id}: expected at least one sample, found none")
    return MerkleTree.of(leaves)


def maybe_inject_fault(ref: ShardRef) -> None:
    """The test hook of `engines`' docstring: kill this worker process once."""
    marker = os.environ.get(KILL_ENV)
    if not marker:
        return
    try:
        os.remove(marker)  # atomic: exactly one task wins, on whichever worker
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def hash_shard(ref: ShardRef, leaves_dir: str | None = None) -> ShardResult | ShardFailure:
    """A worker's task: the shard's root and count, or a `ShardFailure` naming it. Pure: the
    same shard gives the same result wherever and however often it runs. With `leaves_dir`,
    the shard's tree dump is also written there (atomically) so a verifier can later name the
    changed sample of a changed shard."""
    maybe_inject_fault(ref)
    try:
        tree = shard_tree(ref)
    except ShardError as e:
        return ShardFailure(ref.id, str(e))
    if leaves_dir is not None:
        from ..files import atomic_write_json

        atomic_write_json(Path(leaves_dir) / tree_file_name(ref.id), tree.dump())
    return ShardResult(ref.id, tree.root, len(tree), sum(v.size for v in tree.values))


def sample_count(ref: ShardRef) -> int:
    """How many samples the shard holds now, from a listing (files, tar headers, row ranges,
    parquet metadata), without hashing: what a spot check compares with the committed counts
    before it draws, so an added sample or shard cannot hide from it."""
    if ref.format == "arrays":
        return len(ref.payload[0])
    if ref.format == "files":
        if ref.files:
            return len(ref.files)
        from .hashing import _walk

        return sum(1 for _ in _walk(Path(ref.path), Path(ref.path), ""))
    if ref.format == "tar":
        with tarfile.open(ref.path, mode="r:") as archive:
            return sum(1 for m in archive if not m.isdir())
    if ref.format == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(ref.path).metadata.num_rows)
    return ref.rows[1] - ref.rows[0]


def sample_leaf(ref: ShardRef, index: int) -> Leaf:
    """The leaf of sample `index` of a shard, reading and hashing that sample only (headers and
    listings of the others are read, not their bytes hashed); the same leaf `shard_leaves`
    gives at that position."""
    try:
        return _sample_leaf(ref, index)
    except ShardError:
        raise
    except IndexError:
        raise ShardError(f"shard {ref.id}: expected a sample index below the shard's size, found {index}") from None
    except (ProvenanceError, OSError, tarfile.TarError, ValueError, ImportError) as e:
        raise ShardError(f"shard {ref.id}: {' '.join(str(e).split()) or type(e).__name__}") from None


def _sample_leaf(ref: ShardRef, index: int) -> Leaf:
    if index < 0:
        raise IndexError(index)
    if ref.format == "arrays":
        features, labels, n = ref.payload
        sliced = ShardRef(ref.id, ref.format, ref.path, rows=(ref.rows[0] + index, ref.rows[0] + index + 1),
                          payload=(features[index : index + 1], labels[index : index + 1], n))
        if len(sliced.payload[0]) != 1:
            raise IndexError(index)
        return _array_leaves(sliced)[0]
    if ref.format == "files":
        if ref.files:
            name = ref.files[index]
            return Leaf(SAMPLE_KIND, name, *hash_file(Path(ref.path) / name))
        from .hashing import _walk

        name, path, _ = sorted(_walk(Path(ref.path), Path(ref.path), ""))[index]
        return Leaf(SAMPLE_KIND, f"{ref.id}/{name}", *hash_file(path))
    if ref.format == "tar":
        with tarfile.open(ref.path, mode="r:") as archive:
            members = [m for m in archive if not m.isdir()]
            member = members[index]
            if not member.isfile():
                raise ShardError(f"shard {ref.id}: member {member.name}: expected a regular file, found a link or special entry")
            f = archive.extractfile(member)
            assert f is not None
            data = f.read()
        return Leaf(SAMPLE_KIND, member.name, blake3(data).digest(), len(data))
    # parquet and hf rows: the row's batch is decoded, only the row encoded and hashed
    return _row_leaf(ref, index)


def _row_leaf(ref: ShardRef, index: int) -> Leaf:
    if ref.format == "parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(ref.path)
        n = parquet.metadata.num_rows
        if index >= n:
            raise IndexError(index)
        first = 0
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            if index < first + rows:
                batch = parquet.read_row_group(group).slice(index - first, 1)
                break
            first += rows
        row_number = index
    else:
        table = _load_hf(Path(ref.path)).data.table
        n = table.num_rows
        row_number = ref.rows[0] + index
        if row_number >= ref.rows[1]:
            raise IndexError(index)
        batch = table.slice(row_number, 1)
    width = max(6, len(str(max(0, n - 1))))
    return _row_leaves(iter(batch.to_batches()), row_number, width)[0]


def tree_file_name(shard_id: str) -> str:
    """The file a shard's tree dump is kept in: the id with `/` spelled `%2F` (and `%` `%25`)."""
    return shard_id.replace("%", "%25").replace("/", "%2F") + ".json"


# ---------------------------------------------------------------- listing shards


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


# ---------------------------------------------------------------- one shard's samples


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


# ---------------------------------------------------------------- arrow-row-json/v1


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
