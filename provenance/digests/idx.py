"""The bundled datasets' raw formats: MNIST's IDX files and scikit-learn's digits, read into arrays."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import ConfigError, FormatError

Split = tuple[np.ndarray, np.ndarray]


MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def load_digits_arrays() -> np.ndarray:
    """scikit-learn's bundled digits as its `load_digits` reads them (1,797 rows of 64 pixels and
    the label, float64, from `sklearn/datasets/data/digits.csv.gz`), without importing
    scikit-learn: a verifier saves the ~1 s that import costs. The file is found where the
    installed scikit-learn keeps it (`find_spec` locates a package without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("dataset sklearn-digits: expected scikit-learn installed (its bundled digits), found none")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = np.loadtxt(f, delimiter=",")
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: expected scikit-learn's digits (CSV, gzipped), found it unreadable ({e})") from None
    if data.ndim != 2 or data.shape[1] != 65:
        raise FormatError(f"{path}: expected 65 columns (64 pixels and the label), found shape {data.shape}")
    return data


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (optionally gzipped) as a numpy array, with its header checked."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FormatError(f"{path}: IDX file not found") from None
    except EOFError:
        raise FormatError(f"{path}: expected a complete gzip stream, found one cut short") from None
    except (OSError, zlib.error) as e:
        raise FormatError(f"{path}: cannot read the IDX file ({e})") from None
    if len(data) < 4 or data[0:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise FormatError(f"{path}: expected an IDX header (0x0000, type code, ndim), found {data[:4].hex() or 'an empty file'}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise FormatError(f"{path}: IDX header announces {ndim} dimensions but the file ends at byte {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise FormatError(f"{path}: expected {expected} data bytes for shape {shape}, found {len(data) - header}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx_split(folder: Path, split: str) -> Split:
    """Images (N x 1 x H x W float32 in [0, 1]) and labels (int64) of one MNIST split."""
    images_name, labels_name = MNIST_FILES[split]
    images = read_idx(_find(folder, images_name))
    labels = read_idx(_find(folder, labels_name))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise FormatError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match")
    return (images.astype(np.float32) / 255.0)[:, None, :, :], labels.astype(np.int64)


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz", folder / name.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    raise FormatError(f"{folder}: expected MNIST file {name} (or {name}.gz), found none")
