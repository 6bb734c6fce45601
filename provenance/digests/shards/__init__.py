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

import os
import signal
import tarfile
from pathlib import Path

from blake3 import blake3

from ...merkle.kinds import DATA_SAMPLE as SAMPLE_KIND
from ...errors import ProvenanceError
from ..hashing import hash_file
from ...merkle import Leaf, MerkleTree
from ...merkle.reference import SHARD_KIND  # noqa: F401 - read from here by verification
# the parts, re-exported: every name keeps its home `provenance.digests.shards`
from .refs import DEFAULT_SHARD_SIZE, FORMATS, KILL_ENV, ROW_ENCODING, SOURCE, ShardError, ShardFailure, ShardRef, ShardResult  # noqa: F401
from .formats import _LEAVES, _array_leaves, _load_hf, _plain_tar_leaves, _row_leaves, _tarfile_leaves, row_bytes  # noqa: F401
from .sources import array_shards, detect_format, discover, from_descriptor  # noqa: F401


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
        from ...files import atomic_write_json

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
        from ..hashing import _walk

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
        from ..hashing import _walk

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


# ---------------------------------------------------------------- one shard's samples


# ---------------------------------------------------------------- arrow-row-json/v1


