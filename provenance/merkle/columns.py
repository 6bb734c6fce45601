"""A tree's values as columns (kinds, names, digests, sizes): hashed and formatted in bulk, with no
Python object per leaf."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Sequence

import numpy as np

from ..errors import FormatError
from . import backend, reference
from .backend import default_threads
from .reference import (
    Leaf,
)


@dataclass(frozen=True, eq=False)
class _Columns:
    """Leaf values as columns: what the C code reads, and 4 objects per value at most."""

    kinds: list[str]
    names: list[str]
    digests: bytes  # 32 bytes per value
    sizes: list[int]

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def of_leaves(cls, leaves: Sequence[Leaf]) -> _Columns:
        return cls(
            list(map(attrgetter("kind"), leaves)),
            list(map(attrgetter("name"), leaves)),
            b"".join(map(attrgetter("digest"), leaves)),
            list(map(attrgetter("size"), leaves)),
        )

    @classmethod
    def of(cls, kinds: str | Sequence[str], names: Sequence[str], digests: Any, sizes: int | Sequence[int]) -> _Columns:
        names = _as_list(names)
        n = len(names)
        kinds = [kinds] * n if isinstance(kinds, str) else _as_list(kinds)
        sizes = [sizes] * n if isinstance(sizes, int) else _as_list(sizes)
        if isinstance(digests, np.ndarray):
            if digests.dtype != np.uint8 and digests.dtype != np.dtype("S32"):
                raise FormatError(f"digests: expected a uint8 array of shape (n, 32), found dtype {digests.dtype}")
            digests = np.ascontiguousarray(digests).tobytes()
        elif isinstance(digests, (bytes, bytearray, memoryview)):
            digests = bytes(digests)
        else:
            digests = list(digests)
            if len(digests) != n:
                raise FormatError(f"digests: expected {n} digests, one per name, found {len(digests)}")
            bad = next((i for i, d in enumerate(digests) if not isinstance(d, bytes) or len(d) != 32), None)
            if bad is not None:
                raise FormatError(f"leaf {bad}: expected a 32-byte digest, found {reference._short(digests[bad])}")
            digests = b"".join(digests)
        if len(digests) != 32 * n:
            raise FormatError(f"digests: expected {32 * n} bytes (32 per name), found {len(digests)}")
        for what, column in (("kinds", kinds), ("sizes", sizes)):
            if len(column) != n:
                raise FormatError(f"{what}: expected {n}, one per name, found {len(column)}")
        return cls(kinds, names, digests, sizes)

    def leaf(self, i: int) -> Leaf:
        return Leaf(self.kinds[i], self.names[i], self.digests[32 * i : 32 * i + 32], self.sizes[i])

    def leaves(self) -> list[Leaf]:
        d = self.digests
        with _gc_paused():
            return [Leaf(k, n, d[32 * i : 32 * i + 32], s) for i, (k, n, s) in enumerate(zip(self.kinds, self.names, self.sizes))]

    def hashes(self, threads: int | None) -> bytes:
        """The leaf hashes, 32 bytes per value in value order; a FormatError for an invalid value."""
        try:
            return backend.native.leaf_hashes(self.kinds, self.names, self.digests, self.sizes, threads or default_threads())
        except ValueError as e:
            raise FormatError(str(e)) from None

    def json_values(self, tree_indices: np.ndarray | None = None) -> list:
        """The values as dumps store them (`Leaf.to_json`), without making `Leaf` objects; each
        in `{"value": ..., "treeIndex": t}` when `tree_indices` are given."""
        indices = None if tree_indices is None else np.ascontiguousarray(tree_indices, dtype=np.int64)
        with _gc_paused():
            return backend.native.format_values(self.kinds, self.names, self.digests, self.sizes, indices)

    @staticmethod
    def concat(parts: Sequence[_Columns]) -> _Columns:
        return _Columns(
            [k for p in parts for k in p.kinds],
            [n for p in parts for n in p.names],
            b"".join(p.digests for p in parts),
            [s for p in parts for s in p.sizes],
        )


@contextmanager
def _gc_paused():
    """For making a million lists, dicts or `Leaf`s at once: none of them can be part of a cycle,
    yet the cyclic collector would walk them all several times over (5x the time, measured)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _as_list(column: Any) -> list:
    return column.tolist() if isinstance(column, np.ndarray) else list(column)
