"""Datasets a run can name so that a fresh process re-loads exactly the same samples.

A run records a *descriptor* of its data (`{"source": "sklearn-digits", ...}`); verification
calls `load(descriptor)` to get the same train/test arrays back and re-hash them sample by
sample. Sources:

- `sklearn-digits`: scikit-learn's bundled 8x8 digits (1,797 samples), no download; split by a
  seeded permutation (numpy PCG64, stable across versions) into train and test.
- `mnist-idx`: MNIST (or any dataset in that format) from the four IDX files in a folder, the
  official train/test split, nothing downloaded.
- `hf-disk`: a Hugging Face dataset saved with `save_to_disk`, re-loaded with `load_from_disk`
  (`path`: a `Dataset` folder, the train split, with an optional `test_path`; or a `DatasetDict`
  folder with `train_split` and optional `test_split` names); rows hashed per
  `provenance-arrow-row/v1` (`provenance.digests.arrow_rows`).
- `custom`: data handed to the tracker in memory; a verifier must be given it again.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, FormatError

Split = tuple[np.ndarray, np.ndarray]


class DataNotGiven(ConfigError):
    """The run's data is not where its descriptor points (or was in memory only): the samples
    cannot be re-hashed here, which is no evidence against them (verification: CANNOT CHECK)."""

CLASSES = 10  # digits and MNIST-format datasets: labels 0..9 (SmallCNN's ten outputs)
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds both take it; larger ones overflow torch

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def digits_descriptor(seed: int = 0, test_fraction: float = 0.2) -> dict[str, Any]:
    return {"source": "sklearn-digits", "seed": seed, "test_fraction": test_fraction}


def mnist_descriptor(folder: Path | str) -> dict[str, Any]:
    return {"source": "mnist-idx", "path": str(Path(folder).resolve())}


def hf_disk_descriptor(path: Path | str, *, test_path: Path | str | None = None, train_split: str | None = None,
                       test_split: str | None = None) -> dict[str, Any]:
    """The descriptor of a Hugging Face dataset folder written by `save_to_disk` (see `load`)."""
    descriptor: dict[str, Any] = {"source": "hf-disk", "path": str(Path(path).resolve()), "canonicalization": "provenance-arrow-row/v1"}
    if test_path is not None:
        descriptor["test_path"] = str(Path(test_path).resolve())
    if train_split is not None:
        descriptor["train_split"] = train_split
    if test_split is not None:
        descriptor["test_split"] = test_split
    return descriptor


def load(descriptor: Mapping[str, Any]) -> tuple[Any, Any]:
    """(train, test) for a descriptor written by this module: (features, labels) arrays, each
    checked (samples present, labels in 0..9, finite features) before anything is hashed; or
    Hugging Face `Dataset`s for `hf-disk` (test None when the run had no test split)."""
    if not isinstance(descriptor, Mapping):
        raise FormatError(f"dataset: expected an object describing the data, found {type(descriptor).__name__}")
    source = descriptor.get("source")
    if source == "hf-disk":
        return _load_hf_disk(descriptor)
    if source == "sklearn-digits":
        seed = check_seed(descriptor.get("seed", 0), "dataset.seed")
        fraction = descriptor.get("test_fraction", 0.2)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:
            raise ConfigError(f"dataset.test_fraction: expected a number in (0, 1), found {_show(fraction)}")
        train, test = _load_digits(seed, float(fraction))
        where = "sklearn digits"
    elif source == "mnist-idx":
        path = descriptor.get("path")
        if not isinstance(path, str) or not path:
            raise FormatError(f"dataset.path: expected the folder of the IDX files, found {_show(path)}")
        if not Path(path).is_dir():
            raise DataNotGiven(f"dataset: expected the MNIST IDX folder at {path}, found nothing there; "
                               "give your copy with --data NAME=PATH")
        train, test = load_idx_split(Path(path), "train"), load_idx_split(Path(path), "test")
        where = path
    elif source == "custom":
        raise DataNotGiven("dataset: the run used in-memory data; pass the same train/test data to verify it")
    else:
        raise FormatError(f"dataset: unknown source {source!r}, expected sklearn-digits, mnist-idx, hf-disk or custom")
    check_split(train, f"{where} train")
    check_split(test, f"{where} test")
    return train, test


PATH_KEYS = {"dataset": "path", "train": "path", "test": "test_path", "labels": "labels_path"}


def repoint(descriptor: Mapping[str, Any], copies: Mapping[str, str]) -> dict[str, Any]:
    """`descriptor` with its paths replaced by the verifier's copies ({NAME: PATH}, `--data`):
    NAME is the descriptor's `name` (its main path), or `dataset`/`train` (`path`), `test`
    (`test_path`), `labels` (`labels_path`). A NAME that matches nothing is a mistake (exit 2)."""
    out = dict(descriptor)
    for name, path in copies.items():
        key = "path" if name == descriptor.get("name") else PATH_KEYS.get(name)
        if key is None or (key != "path" and key not in descriptor):
            known = sorted({k for k, v in PATH_KEYS.items() if v in descriptor} | ({descriptor["name"]} if "name" in descriptor else set()))
            raise ConfigError(f"--data {name}=...: expected one of the run's data names ({', '.join(known) or 'none'}), found {name!r}")
        if descriptor.get("source") in ("custom", "sklearn-digits"):
            raise ConfigError(f"--data {name}=...: the run's data ({descriptor.get('source')}) is not read from files")
        out[key] = str(Path(path).resolve())
    return out


def copies_checked(descriptor: Mapping[str, Any]) -> dict[str, str]:
    """Which copy of each data file a verification read (for the report)."""
    return {k: str(descriptor[v]) for k, v in (("dataset", "path"), ("test", "test_path"), ("labels", "labels_path"))
            if isinstance(descriptor.get(v), str)}


def check_seed(value: Any, where: str = "seed") -> int:
    """A seed that numpy, torch and the digits split all take: an integer in 0..MAX_SEED."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{where}: expected an integer in 0..{MAX_SEED}, found {_show(value)}")
    return value


def check_split(split: Split, where: str) -> None:
    """At least one sample, one label per sample, labels in 0..CLASSES-1, finite features."""
    features, labels = split
    if len(features) == 0:
        raise FormatError(f"{where}: expected at least one sample, found 0")
    if len(labels) != len(features):
        raise FormatError(f"{where}: expected one label per sample ({len(features)}), found {len(labels)}")
    if labels.min() < 0 or labels.max() >= CLASSES:
        bad = int(labels[(labels < 0) | (labels >= CLASSES)][0])
        raise FormatError(f"{where}: expected labels in 0..{CLASSES - 1}, found {bad}")
    if not np.isfinite(features).all():
        raise FormatError(f"{where}: expected finite feature values, found NaN or infinity")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{type(value).__name__} of {len(text)} characters"


def _load_hf_disk(descriptor: Mapping[str, Any]) -> tuple[Any, Any]:
    from datasets import load_from_disk

    def folder(key: str) -> Any:
        value = descriptor.get(key)
        if isinstance(value, str) and not Path(value).exists():
            raise DataNotGiven(f"dataset.{key}: expected the save_to_disk folder at {value}, found nothing there; "
                               "give your copy with --data NAME=PATH")
        if not isinstance(value, str) or not Path(value).is_dir():
            found = f"no folder at {value}" if isinstance(value, str) else _show(value)
            raise FormatError(f"dataset.{key}: expected a folder written by save_to_disk, found {found}")
        return load_from_disk(value)

    loaded = folder("path")
    if hasattr(loaded, "keys"):  # a DatasetDict: the splits by name
        names = {"train": descriptor.get("train_split", "train"), "test": descriptor.get("test_split")}
        for role, name in names.items():
            if name is not None and name not in loaded:
                raise FormatError(f"dataset.{role}_split: expected one of {sorted(loaded)}, found {_show(name)}")
        return loaded[names["train"]], loaded[names["test"]] if names["test"] is not None else None
    return loaded, folder("test_path") if descriptor.get("test_path") else None


def _load_digits(seed: int, test_fraction: float) -> tuple[Split, Split]:
    digits = load_digits_arrays()
    images = (digits[:, :-1] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)  # N x 1 x 8 x 8 in [0, 1]
    labels = digits[:, -1].astype(np.int64)
    order = np.random.Generator(np.random.PCG64(seed)).permutation(len(labels))
    n_test = int(round(len(labels) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


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
