"""Per-row digests of Arrow tables (Hugging Face `datasets.Dataset`, `pyarrow.Table`), read column
by column from the Arrow buffers: no row is turned into Python objects.

`provenance-arrow-row/v1`
-------------------------
A row's canonical bytes are the concatenation, over the table's columns in Unicode code point order
of their names (so a re-ordered copy of the same table hashes the same), of

    value || trailer || name || u16le(len(name))

where `name` is the column name in UTF-8 and `value || trailer` is the cell in the array form of
`provenance-canonical/v1` (`provenance.digests.hashing`: data, then `u64le(s_1) ... u64le(s_n) || u8(n) ||
D || u8(len(D))`):

- a number or bool: a 0-d array of its Arrow type (`int64`, `float32`, `bool` as one byte 0/1, ...);
- a list (variable or fixed size) of numbers or bools: a 1-d array of its `k` elements, shape `(k,)`;
- a string: its UTF-8 bytes, shape `(len,)`, D = `utf8`; binary: its bytes, D = `binary`;
- a null cell (any type): no data, shape `()`, D = `null`.

Other Arrow types (structs, lists of lists or strings, dictionaries, dates) are refused with the
column named, never skipped. Each part is decodable from the end (the last two bytes give the name's
length, then the trailer gives its own). One leaf per row, kind `data.sample`, named
`f"{split}/{index:06d}"` as for every dataset; leaf size: the sum of the cells' data bytes. The
table is read in batches of `BATCH_ROWS` rows through `dataset.with_format("arrow")`, which applies
a `select`/`shuffle` index mapping, so a row's index is its position in the dataset as given.
"""

from __future__ import annotations

import struct
from typing import Any, Iterator

import numpy as np
from blake3 import blake3

from ..merkle.kinds import DATA_SAMPLE
from ..errors import FormatError
from ..merkle import Leaf

CANONICALIZATION = "provenance-arrow-row/v1"
BATCH_ROWS = 4096

_NUMERIC = {
    "bool": "bool", "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "halffloat": "float16", "float": "float32", "double": "float64",
}


def is_arrow_dataset(value: Any) -> bool:
    """A Hugging Face `datasets.Dataset` or a `pyarrow.Table`, recognised without importing either."""
    module = type(value).__module__.split(".")[0]
    name = type(value).__name__
    return (module == "datasets" and name == "Dataset") or (module == "pyarrow" and name == "Table")


def row_leaves(dataset: Any, split: str, kind: str = DATA_SAMPLE, *, rows: tuple[int, int] | None = None) -> list[Leaf]:
    """One leaf per row of `dataset` (see the module docstring), rows `start..stop` if given."""
    n = dataset.num_rows
    start, stop = rows if rows is not None else (0, n)
    if not 0 <= start <= stop <= n:
        raise FormatError(f"dataset {split!r}: expected rows within 0..{n}, found {start}..{stop}")
    width = max(6, len(str(max(n - 1, 0))))
    leaves: list[Leaf] = []
    for offset, table in _batches(dataset, start, stop):
        columns = sorted(table.column_names)
        encoders = [_Column(name, table.column(name).combine_chunks() if table.column(name).num_chunks != 1
                            else table.column(name).chunk(0)) for name in columns]
        for i in range(table.num_rows):
            hasher = blake3()
            size = 0
            for column in encoders:
                size += column.feed(hasher, i)
            leaves.append(Leaf(kind, f"{split}/{offset + i:0{width}d}", hasher.digest(), size))
    return leaves


def _batches(dataset: Any, start: int, stop: int) -> Iterator[tuple[int, Any]]:
    if type(dataset).__module__.split(".")[0] == "pyarrow":
        for offset in range(start, stop, BATCH_ROWS):
            yield offset, dataset.slice(offset, min(BATCH_ROWS, stop - offset))
        return
    arrow = dataset.with_format("arrow")
    for offset in range(start, stop, BATCH_ROWS):
        yield offset, arrow[offset : min(offset + BATCH_ROWS, stop)]


def _trailer(shape: tuple[int, ...], dtype: str) -> bytes:
    return b"".join(struct.pack("<Q", s) for s in shape) + bytes([len(shape)]) + dtype.encode() + bytes([len(dtype)])


_NULL = _trailer((), "null")


class _Column:
    """One column of a batch as numpy views of its Arrow buffers, fed to a hasher row by row."""

    def __init__(self, name: str, array: Any) -> None:
        import pyarrow as pa
        import pyarrow.types as t

        self.suffix = name.encode() + struct.pack("<H", len(name.encode()))
        self.valid = None if array.null_count == 0 else np.asarray(array.is_valid())
        typ = array.type
        self.kind = ""
        if typ in (pa.string(), pa.large_string(), pa.binary(), pa.large_binary()):
            self.kind, self.dtype = "bytes", "utf8" if t.is_string(typ) or t.is_large_string(typ) else "binary"
            self.offsets = _offsets(array)
            self.data = _buffer(array.buffers()[2], np.uint8)
        elif str(typ) in _NUMERIC:
            self.kind, self.dtype = "scalar", _NUMERIC[str(typ)]
            self.values = _numbers(array, self.dtype)
            self.fixed = _trailer((), self.dtype)
        elif (t.is_list(typ) or t.is_large_list(typ) or t.is_fixed_size_list(typ)) and str(typ.value_type) in _NUMERIC:
            self.kind, self.dtype = "list", _NUMERIC[str(typ.value_type)]
            if t.is_fixed_size_list(typ):
                size = typ.list_size
                self.offsets = np.arange(array.offset, array.offset + len(array) + 1, dtype=np.int64) * size
                self.values = _numbers(array.values, self.dtype)
            else:
                self.offsets = _offsets(array)
                self.values = _numbers(array.values, self.dtype)
        else:
            raise FormatError(f"dataset column {name!r}: expected numbers, bools, strings, binary or lists of numbers "
                              f"({CANONICALIZATION}), found Arrow type {typ}")

    def feed(self, hasher: Any, i: int) -> int:
        if self.valid is not None and not self.valid[i]:
            hasher.update(_NULL)
            hasher.update(self.suffix)
            return 0
        if self.kind == "scalar":
            data = self.values[i : i + 1]
            hasher.update(data.view(np.uint8))
            hasher.update(self.fixed)
        else:
            source = self.data if self.kind == "bytes" else self.values
            data = source[self.offsets[i] : self.offsets[i + 1]]
            hasher.update(data.view(np.uint8))
            hasher.update(_trailer((len(data),), self.dtype))
        nbytes = data.nbytes
        hasher.update(self.suffix)
        return nbytes


def _buffer(buffer: Any, dtype: Any) -> np.ndarray:
    return np.frombuffer(buffer, dtype=dtype) if buffer is not None else np.zeros(0, dtype=dtype)


def _offsets(array: Any) -> np.ndarray:
    """Offsets of a (large) string, binary or list array into its values, sliced to this array."""
    import pyarrow.types as t

    wide = t.is_large_string(array.type) or t.is_large_binary(array.type) or t.is_large_list(array.type)
    offsets = _buffer(array.buffers()[1], np.int64 if wide else np.int32)
    return offsets[array.offset : array.offset + len(array) + 1].astype(np.int64)


def _numbers(array: Any, dtype: str) -> np.ndarray:
    """A numeric array's values little-endian (bools as one byte 0/1), nulls as zeros (masked apart)."""
    if dtype == "bool":
        return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_).view(np.uint8)
    values = array.fill_null(0).to_numpy(zero_copy_only=False) if array.null_count else array.to_numpy(zero_copy_only=True)
    return np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
