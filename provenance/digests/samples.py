"""A dataset's samples as pairs of arrays and their leaves' names: the helpers of
`hashing.dataset_leaves`."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..errors import FormatError
from ..merkle import Leaf
from . import hasher as _hasher
from . import tensors


def _rows(rows: tuple[int, int] | None, n: int, split: str) -> tuple[int, int]:
    if rows is None:
        return 0, n
    start, stop = rows
    if not 0 <= start <= stop <= n:
        raise FormatError(f"dataset {split!r}: expected rows (start, stop) with 0 <= start <= stop <= {n}, found {rows!r}")
    return start, stop


def _sample_names(split: str, n: int) -> list[str]:
    width = _name_digits(n)
    return [f"{split}/{i:0{width}d}" for i in range(n)]


def _as_pair(dataset: Any) -> tuple[Any, Any] | None:
    """`(features, labels)` when the dataset's samples are rows of two arrays or tensors."""
    # Only a tuple: a list of two arrays reads as two samples, and is refused as such.
    if isinstance(dataset, tuple) and len(dataset) == 2 and all(_is_array(v) for v in dataset):
        return dataset[0], dataset[1]
    cls = type(dataset)
    if cls.__module__ == "torch.utils.data.dataset":
        if cls.__name__ == "TensorDataset" and len(dataset.tensors) == 2:
            return dataset.tensors[0], dataset.tensors[1]
        if cls.__name__ == "Subset" and (inner := _as_pair(dataset.dataset)) is not None:
            return tuple(_take(v, dataset.indices) for v in inner)  # type: ignore[return-value]
    return None


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or tensors.is_tensor(value)


def _take(values: Any, indices: Any) -> Any:
    if isinstance(values, np.ndarray):
        return values[np.asarray(indices, dtype=np.int64)]
    return values[sys.modules["torch"].as_tensor(indices, dtype=sys.modules["torch"].int64, device=values.device)]


def _name_digits(n: int) -> int:
    return max(6, len(str(n - 1)))


def _leaves(kind: str, prefix: str, digits: int, first: int, digests: bytes, size: int) -> list[Leaf]:
    """`Leaf(kind, f"{prefix}{first + i:0{digits}d}", digests[32*i : 32*i+32], size)` for each
    digest; natively made at C speed (Leaf's own checks cost more than hashing the sample), so
    only for values valid by construction."""
    if _hasher.native is not None and Leaf.__slots__ == ("kind", "name", "digest", "size"):
        return _hasher.native.make_leaves(Leaf, kind, prefix, digits, first, digests, size)
    return [Leaf(kind, f"{prefix}{first + i:0{digits}d}", digests[32 * i : 32 * i + 32], size) for i in range(len(digests) // 32)]
