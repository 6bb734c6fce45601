"""Content digests: blake3 over the canonical bytes of files, arrays, tensors and dataset samples.

Every digest is BLAKE3 (unkeyed, 32 bytes) of the canonical bytes defined below. The definition
has a name, `provenance-canonical/v1` (`CANONICALIZATION`), that every provenance record
carries, so that anyone can redo the hashing with any BLAKE3 implementation.

`provenance-canonical/v1`
-------------------------
File
    The file's bytes as stored. Leaf size: the file's size.
Directory
    One leaf per regular file below it, named by its path relative to the directory with `/`
    separators (`weights/model.bin`), leaves sorted by name (Unicode code point order). A
    single file's leaf is named by its base name. A symlink to a regular file is followed: the
    leaf holds the target's bytes under the link's name (model hubs keep blobs behind links).
    A symlink to a directory, a dangling symlink and a special file (FIFO, socket, device) are
    errors, never skipped; an empty directory adds no leaf.
Array or tensor (numpy, torch)
    `data || trailer`, where

        trailer = u64le(s_1) || ... || u64le(s_n) || u8(n) || D || u8(len(D))

    `D` is the dtype name in ASCII, one of `bool uint8 int8 uint16 int16 uint32 int32 uint64
    int64 float16 bfloat16 float32 float64 complex32 complex64 complex128 float8_e4m3fn
    float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz float8_e8m0fnu float4_e2m1fn_x2` (numpy and
    torch share these names; `provenance.digests.tensors.ITEMSIZE` gives the bytes per element); `n`
    is the number of dimensions (0 for a scalar) and `s_i` the size of dimension i. A float32
    tensor of shape (2, 3) has the trailer `0200000000000000 0300000000000000 02 "float32" 07`.
    The trailer is read from the end (its last byte gives the name's length), which makes the
    bytes of a sample, two of these one after the other, decodable. It comes after the data so
    the data starts the hash input: BLAKE3 then hashes a large tensor, or each power-of-two
    piece of it, as whole subtrees on all cores; a header in front would misalign every piece
    and cost a tenth to a quarter of the speed on 1-4 MiB tensors (measured on 2 cores).

    `data` is the elements in row-major (C) order without padding, each little-endian:
    integers two's complement, floats IEEE 754 binary16/32/64, bfloat16 the upper half of a
    float32, float8 formats their one-byte encoding, float4_e2m1fn_x2 one byte holding two
    values as torch stores it, bool one byte 0x00 or 0x01, complex the real then the imaginary
    part, each a float of half the element's size. The bits count as stored: -0.0 and 0.0
    differ, and so do NaN payloads. Big-endian numpy arrays are converted, strided ones laid
    out in C order, tensors on a GPU copied to the host; none of that changes the bytes.
    Leaf size: `len(data)`.
State dict
    One leaf per entry (kind `model.param` by default), named by its key, its digest and size
    those of the array or tensor.
Dataset sample
    `canonical(x) || canonical(y)` for the sample's features `x` and label `y`, each an array
    or tensor; a Python bool, int or float label counts as a 0-d bool, int64 or float64 array.
    One leaf per sample (kind `data.sample`) named `f"{split}/{index:06d}"` (more digits when
    the last index needs them); leaf size: `len(data)` of `x`.
"""

from __future__ import annotations

import mmap
import os
import stat
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from blake3 import blake3
from tqdm import tqdm

from ..merkle.kinds import DATA_SAMPLE, MODEL_PARAM
from . import hasher as _hasher
from . import tensors
from .hasher import PARALLEL_MIN, hash_items, hash_rows, new_hasher
from ..errors import FormatError, ProvenanceError
from ..files import open_regular
from ..merkle import Leaf
from .samples import _as_pair, _is_array, _leaves, _name_digits, _rows, _sample_names, _take  # noqa: F401 - read from here by tests
from .walk import _file_type, _regular_file_size, _stat, _utf8_name, _walk  # noqa: F401 - _walk: read from here by shards

if TYPE_CHECKING:
    import torch

CANONICALIZATION = "provenance-canonical/v1"

Progress = Callable[[int], object]

STEP = 256 << 20  # bytes per update call on large inputs, so a progress bar can move
_ROWS_BYTES = 64 << 20  # canonical sample bytes hashed per native call on the dataset fast path
_ITEMS = 4096  # samples per native call on the one-by-one dataset path
# Without the C extension, tensors from this size on are hashed one at a time by blake3-py on
# all cores (its rayon pool), smaller ones in batches (`hash_items`). With it, every tensor of a
# batch goes to one native call, the big ones cut into subtrees that all threads share.
LARGE = PARALLEL_MIN


def hash_bytes(data: bytes | bytearray | memoryview) -> bytes:
    """blake3 of `data` (any contiguous bytes-like object)."""
    try:
        view = memoryview(data)
    except TypeError:
        raise FormatError(f"expected bytes, found {tensors.type_name(data)}") from None
    return new_hasher(view.nbytes).update(view).digest()


def hash_file(path: str | os.PathLike[str], *, progress: Progress | None = None) -> tuple[bytes, int]:
    """`(digest, size)` of a regular file, memory-mapped and hashed on all cores.

    Args:
        progress: called with the number of bytes hashed after each step (e.g. a tqdm bar's
            `update`); without it, files that take more than a second show their own bar.
    """
    path = Path(path)
    _regular_file_size(path, path)  # names a dangling link, a folder
    fd = open_regular(path, "file")  # O_NONBLOCK + fstat: a FIFO swapped in meanwhile never hangs us
    size = os.fstat(fd).st_size
    try:
        with os.fdopen(fd, "rb") as f:
            if size < PARALLEL_MIN:
                data = f.read()
                if progress is not None:
                    progress(len(data))
                return blake3(data).digest(), len(data)
            with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mapped, _bar(
                size, path.name, given=progress
            ) as report:
                hasher = new_hasher(size)
                with memoryview(mapped) as view:
                    _feed(hasher, view, report)
                return hasher.digest(), size
    except (OSError, ValueError) as e:  # ValueError: the file shrank below its size before mmap
        raise ProvenanceError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def file_leaves(path: str | os.PathLike[str], kind: str = "file") -> list[Leaf]:
    """One leaf per file: for a file, one leaf named by its base name; for a directory, one leaf
    per file below it named by its relative posix path, sorted (see the module docstring for
    symlinks and special files)."""
    root = Path(path)
    top = _stat(root, root)
    if stat.S_ISREG(top.st_mode):
        return [Leaf(kind, _utf8_name(root.name, root), *hash_file(root))]
    if not stat.S_ISDIR(top.st_mode):
        raise FormatError(f"{root}: expected a file or a directory, found {_file_type(top.st_mode)}")
    files = sorted(_walk(root, root, ""))
    total = sum(size for _, _, size in files)
    leaves = []
    with _bar(total, root.name or str(root), minimum=0) as report:
        for name, file, _ in files:
            leaves.append(Leaf(kind, name, *hash_file(file, progress=report)))
    return leaves


def hash_array(array: np.ndarray) -> tuple[bytes, int]:
    """`(digest, data size)` of a numpy array's canonical bytes."""
    if not isinstance(array, np.ndarray):
        hint = " (use hash_tensor)" if tensors.is_tensor(array) else ""
        raise FormatError(f"expected a numpy array, found {tensors.type_name(array)}{hint}")
    return _digest(tensors.numpy_canonical(array, "array"))


def hash_tensor(tensor: torch.Tensor) -> tuple[bytes, int]:
    """`(digest, data size)` of a torch tensor's canonical bytes, on any device: a GPU tensor is
    copied to the host in chunks through reused pinned buffers and hashes like its CPU copy."""
    if not tensors.is_tensor(tensor):
        hint = " (use hash_array)" if isinstance(tensor, np.ndarray) else ""
        raise FormatError(f"expected a torch tensor, found {tensors.type_name(tensor)}{hint}")
    if tensor.device.type == "cpu":
        return _digest(tensors.torch_canonical(tensor, "tensor"))
    tensors.torch_dtype_name(tensor, "tensor")
    from .staging import stager_for

    with _bar(tensor.numel() * tensor.element_size(), "tensor") as report:
        return stager_for(tensor.device).hash_tensors([tensor], progress=report)[0]


def state_dict_leaves(state_dict: Mapping[str, Any] | Any, kind: str = MODEL_PARAM, *, threads: int | None = None) -> list[Leaf]:
    """One leaf per entry of a state dict (or of `module.state_dict()` for an object that has
    one), named by its key. Values must be numpy arrays or torch tensors; anything else, such as
    an optimizer's step counter or a module's extra state, is a `FormatError` naming the key.
    Tensors on a GPU are hashed through the pinned, overlapped pipeline of `provenance.digests.staging`.
    `threads`: at most this many hashing threads for host tensors (default: every core)."""
    entries, dtypes, total = _checked_entries(state_dict)
    results: dict[int, tuple[bytes, int]] = {}
    on_device: dict[Any, list[int]] = {}
    # Host tensors in groups of about STEP bytes: `(index, data, trailer, size)`, the data a view
    # where the layout allows (else a copy), then the whole group hashed in one native call, so
    # the threads wait for no Python between tensors (without the extension: the small ones in
    # one `hash_items`, the big ones back to back on blake3-py's threads).
    group: list[tuple[int, Any, bytes, int]] = []
    with _bar(total, "state dict") as report:

        def flush() -> None:
            batch = group if _hasher.native is not None else [g for g in group if g[3] < LARGE]
            if batch:
                digests = hash_items([(data, tail) for _, data, tail, _ in batch], threads)
                for j, (i, _, _, size) in enumerate(batch):
                    results[i] = (digests[32 * j : 32 * j + 32], size)
                if report is not None:
                    report(sum(g[3] for g in batch))
            if _hasher.native is None:
                for i, data, tail, size in group:
                    if size >= LARGE:
                        hasher = new_hasher(size, threads)
                        _feed(hasher, data, report)
                        results[i] = (hasher.update(tail).digest(), size)
            group.clear()

        grouped = 0
        for i, (key, value) in enumerate(entries):
            if isinstance(value, np.ndarray):
                c = tensors.numpy_canonical(value, key)
                group.append((i, c.data, c.trailer, c.nbytes))
            elif value.is_cpu:
                data = tensors.torch_host_data(value)
                group.append((i, data, tensors.trailer(dtypes[i], value.shape), data.nbytes))
            else:
                on_device.setdefault(value.device, []).append(i)
                continue
            grouped += group[-1][3]
            if grouped >= STEP:
                flush()
                grouped = 0
        if group:
            flush()
        if on_device:
            from .staging import stager_for

            for device, indices in on_device.items():
                staged = stager_for(device).hash_tensors([entries[i][1] for i in indices], progress=report)
                results.update(zip(indices, staged))
    return [Leaf(kind, key, *results[i]) for i, (key, _) in enumerate(entries)]


def _checked_entries(state_dict: Mapping[str, Any] | Any) -> tuple[list[tuple[str, Any]], list[str], int]:
    """A state dict's entries, each one's canonical dtype name and their bytes in all; a
    FormatError naming the first key or value that is not a string or a tensor."""
    if not isinstance(state_dict, Mapping) and callable(getattr(state_dict, "state_dict", None)):
        state_dict = state_dict.state_dict()
    if not isinstance(state_dict, Mapping):
        raise FormatError(f"expected a state dict (a mapping of names to tensors), found {tensors.type_name(state_dict)}")
    entries = list(state_dict.items())
    total = 0
    dtypes: list[str] = []  # each entry's canonical dtype name
    for key, value in entries:
        if not isinstance(key, str):
            raise FormatError(f"state dict key: expected a string, found {tensors.type_name(key)} {key!r}")
        what = f"state dict entry {key!r}"
        if isinstance(value, np.ndarray):
            dtypes.append(tensors.numpy_dtype_name(value, what))
            total += value.nbytes
        elif tensors.is_tensor(value):
            dtypes.append(tensors.torch_dtype_name(value, what))
            total += value.numel() * value.element_size()
        else:
            raise FormatError(f"{what}: expected a tensor or numpy array, found {tensors.type_name(value)}")
    return entries, dtypes, total

def dataset_leaves(dataset: Any, split: str, kind: str = DATA_SAMPLE, *, rows: tuple[int, int] | None = None) -> list[Leaf]:
    """One leaf per sample, named `f"{split}/{index:06d}"`, over the sample's features and label.

    `dataset` is a tuple `(features, labels)` of numpy arrays or torch tensors with one row per
    sample, a torch `TensorDataset` of two tensors or a `Subset` of one (all hashed in bulk),
    or any indexable dataset with a length whose items are `(x, y)` pairs (one by one), or a
    Hugging Face `datasets.Dataset` / `pyarrow.Table` (one leaf per row, `provenance.digests.arrow_rows`).
    `rows=(start, stop)` hashes only those samples (one shard of a distributed job), with the
    names and leaves they have in the whole dataset's list.
    """
    if not isinstance(split, str) or not split:
        raise FormatError(f"dataset split: expected a non-empty name such as 'train', found {split!r}")
    from . import arrow_rows

    if arrow_rows.is_arrow_dataset(dataset):  # Hugging Face datasets: one leaf per row, `provenance-arrow-row/v1`
        return arrow_rows.row_leaves(dataset, split, kind, rows=rows)
    pair = _as_pair(dataset)
    if pair is not None:
        return _pair_leaves(*pair, split=split, kind=kind, shard=rows)
    if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        raise FormatError(
            f"dataset {split!r}: expected (features, labels) arrays or tensors, or an indexable dataset "
            f"of (x, y) pairs, found {tensors.type_name(dataset)}"
        )
    n = len(dataset)
    start, stop = _rows(rows, n, split)
    names = _sample_names(split, n)
    leaves: list[Leaf] = []
    # (name, canonical bytes, x data size) of up to _ITEMS samples, hashed in one native call. The
    # bytes are copied: a dataset may hand out views of one buffer it refills for every item.
    batch: list[tuple[str, bytes, int]] = []

    def flush() -> None:
        digests = hash_items([(data,) for _, data, _ in batch])
        leaves.extend(Leaf(kind, name, digests[32 * j : 32 * j + 32], size) for j, (name, _, size) in enumerate(batch))
        batch.clear()

    for i in tqdm(range(start, stop), desc=split, unit="sample", disable=None, delay=1.0, file=sys.stderr, leave=False):
        item = dataset[i]
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise FormatError(f"dataset sample {names[i]}: expected an (x, y) pair, found {tensors.type_name(item)}")
        x = tensors.canonical(item[0], f"dataset sample {names[i]} features")
        y = tensors.canonical(item[1], f"dataset sample {names[i]} label")
        batch.append((names[i], b"".join((x.data, x.trailer, y.data, y.trailer)), x.nbytes))
        if len(batch) >= _ITEMS:
            flush()
    if batch:
        flush()
    return leaves


def _digest(value: tensors.Canonical, progress: Progress | None = None) -> tuple[bytes, int]:
    hasher = new_hasher(value.nbytes)
    with _bar(value.nbytes, "tensor", given=progress) as report:
        _feed(hasher, value.data, report)
    return hasher.update(value.trailer).digest(), value.nbytes


def _feed(hasher: blake3, data: Any, progress: Progress | None) -> None:
    """Update in STEP-sized slices (same digest, same speed as one call) to report progress."""
    view = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
    if progress is None or len(view) <= STEP:
        hasher.update(view)
        if progress is not None:
            progress(len(view))
        return
    for offset in range(0, len(view), STEP):
        step = view[offset : offset + STEP]
        hasher.update(step)
        progress(len(step))


@contextmanager
def _bar(total: int, desc: str, *, given: Progress | None = None, minimum: int = STEP) -> Iterator[Progress | None]:
    """A byte progress bar on stderr that shows only after a second, or `given` when the caller
    already has one; none for inputs too small to ever take that long."""
    if given is not None or total < minimum:
        yield given
        return
    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=None, delay=1.0,
              file=sys.stderr, leave=False) as bar:
        # Not a terminal: no bar, and large inputs go to blake3 in one call rather than in steps.
        yield None if bar.disable else bar.update


def _pair_leaves(features: Any, labels: Any, *, split: str, kind: str, shard: tuple[int, int] | None = None) -> list[Leaf]:
    """The fast path: every sample is one row `x data | x trailer | y data | y trailer`, the data
    read in place from the two arrays (a copy only where `tensors.canonical` needs one), and the
    rows are hashed many per native call (`hasher.hash_rows`)."""
    for what, values in (("features", features), ("labels", labels)):
        if values.ndim == 0:
            raise FormatError(f"dataset {split!r} {what}: expected one row per sample, found a 0-d value")
    n = len(features)
    if len(labels) != n:
        raise FormatError(f"dataset {split!r}: expected as many labels as samples ({n}), found {len(labels)}")
    first, last = _rows(shard, n, split)
    digits = _name_digits(n)
    if first == last:
        return []
    # Trailers and widths from the first sample; the same for every row.
    x0 = tensors.canonical(features[first : first + 1], f"dataset {split!r} features")
    y0 = tensors.canonical(labels[first : first + 1], f"dataset {split!r} labels")
    xt = tensors.trailer(x0.dtype, x0.shape[1:])
    yt = tensors.trailer(y0.dtype, y0.shape[1:])
    xn, yn = x0.nbytes, y0.nbytes
    # Checks kind and size once for every leaf below, which are made without Leaf's checks.
    Leaf(kind, f"{split}/{first:0{digits}d}", bytes(32), xn)
    rows = max(1, _ROWS_BYTES // (xn + len(xt) + yn + len(yt)))
    leaves: list[Leaf] = []
    with tqdm(total=last - first, desc=split, unit="sample", disable=None, delay=1.0, file=sys.stderr, leave=False) as bar:
        for start in range(first, last, rows):
            stop = min(last, start + rows)
            x = tensors.canonical(features[start:stop], "features").data
            y = tensors.canonical(labels[start:stop], "labels").data
            digests = hash_rows([(x, xn), (xt, 0), (y, yn), (yt, 0)], stop - start)
            leaves += _leaves(kind, f"{split}/", digits, start, digests, xn)
            bar.update(stop - start)
    return leaves


