"""Canonical bytes of numpy arrays and torch tensors (`provenance-canonical/v1`).

The definition lives in `provenance.digests.hashing`'s docstring; this module turns arrays, tensors and
Python scalars into that trailer and a flat little-endian byte view of their data, copying only
where the layout requires it (non-contiguous, big-endian, not on the host).

torch is optional: it is imported only by callers that already hold a tensor, so hashing files
never pays torch's import time.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import FormatError, ProvenanceError

if TYPE_CHECKING:
    import torch

# Canonical dtype name -> bytes per element. numpy and torch names map onto these names.
ITEMSIZE: dict[str, int] = {
    "bool": 1,
    "uint8": 1,
    "int8": 1,
    "uint16": 2,
    "int16": 2,
    "uint32": 4,
    "int32": 4,
    "uint64": 8,
    "int64": 8,
    "float16": 2,
    "bfloat16": 2,
    "float32": 4,
    "float64": 8,
    "complex32": 4,
    "complex64": 8,
    "complex128": 16,
    "float8_e4m3fn": 1,
    "float8_e4m3fnuz": 1,
    "float8_e5m2": 1,
    "float8_e5m2fnuz": 1,
    "float8_e8m0fnu": 1,
    "float4_e2m1fn_x2": 1,
}
MAX_NDIM = 255


def trailer(dtype: str, shape: Sequence[int]) -> bytes:
    """`u64le dim... | u8 ndim | dtype ASCII | u8 len(dtype)`, read from the end (see
    `provenance.digests.hashing`)."""
    return _trailer(dtype, shape if isinstance(shape, tuple) else tuple(shape))  # torch.Size is a tuple


@lru_cache(maxsize=4096)  # a model's tensors share a few shapes: a lookup costs a fifth of a build
def _trailer(dtype: str, shape: tuple[int, ...]) -> bytes:
    if len(shape) > MAX_NDIM:
        raise FormatError(f"expected at most {MAX_NDIM} dimensions, found {len(shape)}")
    name = dtype.encode("ascii")
    return b"".join(int(d).to_bytes(8, "little") for d in shape) + bytes((len(shape),)) + name + bytes((len(name),))


@dataclass(frozen=True)
class Canonical:
    """An array's canonical form: dtype name, shape and its data as flat little-endian bytes."""

    dtype: str
    shape: tuple[int, ...]
    data: np.ndarray  # 1-D uint8, C order, little-endian elements; a view of the input where possible

    @property
    def trailer(self) -> bytes:
        return trailer(self.dtype, self.shape)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)


def is_tensor(value: Any) -> bool:
    """True for a torch tensor; never imports torch (no torch loaded means no tensor exists)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def type_name(value: Any) -> str:
    cls = type(value)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def canonical(value: Any, what: str = "value") -> Canonical:
    """The canonical form of a numpy array or scalar, a torch tensor (any device: copied to the
    host whole, so keep this for small values), or a Python bool, int or float (as a 0-d bool,
    int64 or float64 array). Anything else is a `FormatError` naming `what`."""
    if isinstance(value, np.ndarray | np.generic):
        return numpy_canonical(np.asarray(value), what)
    if is_tensor(value):
        return torch_canonical(value if value.device.type == "cpu" else value.cpu(), what)
    if isinstance(value, bool):
        return numpy_canonical(np.asarray(value, dtype=np.bool_), what)
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise FormatError(f"{what}: expected an integer that fits in int64, found {value}")
        return numpy_canonical(np.asarray(value, dtype=np.int64), what)
    if isinstance(value, float):
        return numpy_canonical(np.asarray(value, dtype=np.float64), what)
    raise FormatError(f"{what}: expected a numpy array or torch tensor, found {type_name(value)}")


def numpy_dtype_name(array: np.ndarray, what: str) -> str:
    name = array.dtype.name
    if ITEMSIZE.get(name) != array.dtype.itemsize:
        raise FormatError(f"{what}: expected a numeric array (bool, int, float, complex), found dtype {array.dtype}")
    return name


def numpy_canonical(array: np.ndarray, what: str) -> Canonical:
    name = numpy_dtype_name(array, what)
    order = array.dtype.byteorder
    if order == ">" or (order == "=" and sys.byteorder == "big"):
        array = array.astype(array.dtype.newbyteorder("<"))
    # ascontiguousarray is a no-op for C-contiguous input and makes 0-d arrays 1-d.
    data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    return Canonical(name, tuple(int(d) for d in array.shape), data)


_TORCH_NAMES: dict[Any, str] = {}  # torch dtype -> its canonical name, once checked


def torch_dtype_name(tensor: torch.Tensor, what: str) -> str:
    """The canonical dtype name of `tensor`, after checking it holds plain strided data."""
    name = _TORCH_NAMES.get(tensor.dtype)
    if name is None:
        name = str(tensor.dtype).removeprefix("torch.")
        if ITEMSIZE.get(name) != tensor.element_size():
            raise FormatError(f"{what}: expected a numeric tensor (bool, int, float, complex), found dtype {tensor.dtype}")
        _TORCH_NAMES[tensor.dtype] = name
    if tensor.layout != _torch().strided:
        raise FormatError(f"{what}: expected a dense (strided) tensor, found layout {tensor.layout}")
    if tensor.is_meta:
        raise FormatError(f"{what}: expected a tensor with data, found one on the meta device")
    if sys.byteorder != "little":
        raise ProvenanceError("hashing torch tensors needs a little-endian host; this one is big-endian")
    return name


def torch_bytes(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's elements as a flat uint8 tensor on its own device, C order: a view when the
    tensor is contiguous, else one copy. Conjugate and negative bits are materialised."""
    flat = tensor.detach().resolve_conj().resolve_neg().contiguous().reshape(-1)
    return flat.view(_torch().uint8)


def torch_host_data(tensor: torch.Tensor) -> np.ndarray:
    """The canonical data of a CPU tensor (already checked by `torch_dtype_name`) as a C-contiguous
    numpy array, not necessarily of uint8: its buffer holds the data bytes. The tensor's own
    memory when it is contiguous with a numpy dtype (the common case, made in a third of
    `torch_bytes`' time), else `torch_bytes`."""
    if tensor.dtype in _numpy_dtypes() and tensor.is_contiguous() and not (tensor.is_conj() or tensor.is_neg()):
        return (tensor.detach() if tensor.requires_grad else tensor).numpy()
    return torch_bytes(tensor).numpy()


@lru_cache(maxsize=1)
def _numpy_dtypes() -> frozenset[Any]:
    """The torch dtypes `Tensor.numpy()` shares as the same bytes in every torch version we meet."""
    torch = _torch()
    return frozenset((torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
                      torch.float32, torch.float64, torch.complex64, torch.complex128))


def torch_canonical(tensor: torch.Tensor, what: str) -> Canonical:
    """Canonical form of a tensor on the host (callers move other devices' tensors first)."""
    name = torch_dtype_name(tensor, what)
    return Canonical(name, tuple(tensor.shape), torch_bytes(tensor).numpy())


def _torch() -> Any:
    return sys.modules["torch"]
