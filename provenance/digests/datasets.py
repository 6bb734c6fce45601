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
- `numpy`: a `.npz` file (arrays named by `features`/`labels`, and `test_features`/`test_labels`
  when the run had a test split) or a `.npy` pair (`path` the features, `labels_path` the labels).
- `torch-file`: a file written by `torch.save` holding `(features, labels)` or a dict with
  `features`/`labels` (and `test_features`/`test_labels`), read with `weights_only=True`.
- `csv`: a table with a header row; the `label` column (its name in `label_column`) is the label,
  the other columns the features (float64), one sample per row.
- Image folders (torchvision `ImageFolder` layout), webdataset tars, parquet tables and HF
  datasets on disk are sharded sources (`provenance.digests.shards`): `describe` hands them there.
- `custom`: data handed to the tracker in memory; a verifier must be given it again.

A descriptor may carry a `name`; `provenance verify --data NAME=PATH` points it at a copy (`repoint`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, FormatError
from ..files import open_regular
from .idx import _IDX_DTYPES, MNIST_FILES, Split, _find, load_digits_arrays, load_idx_split, read_idx  # noqa: F401 - their old home


class DataNotGiven(ConfigError, FormatError):
    """The run's data is not where its descriptor points (or was in memory only): the samples
    cannot be re-hashed here, which is no evidence against them (verification: CANNOT CHECK)."""

CLASSES = 10  # digits and MNIST-format datasets: labels 0..9 (SmallCNN's ten outputs)
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds both take it; larger ones overflow torch


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
    if source in FILE_SOURCES:
        return FILE_SOURCES[source](descriptor)
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


# ---------------------------------------------------------------- data kept in files

FILE_SUFFIXES = {".npz": "numpy", ".npy": "numpy", ".pt": "torch-file", ".pth": "torch-file", ".csv": "csv"}


def describe(path: str | Path, *, name: str | None = None, labels_path: str | Path | None = None,
             label_column: str = "label", **keys: str) -> dict[str, Any]:
    """The descriptor of data kept in a file that this module re-loads (`.npz`/`.npy`, a
    `torch.save` file, a CSV table). Other files and folders (image folders, tars, parquet, HF on
    disk) are sharded sources: `provenance.digests.shards.tracking` describes those."""
    file = Path(path)
    source = FILE_SUFFIXES.get(file.suffix.lower())
    if source is None:
        raise ConfigError(f"{file}: expected a .npz, .npy, .pt/.pth or .csv file, found {file.suffix or 'no suffix'}")
    descriptor: dict[str, Any] = {"source": source, "path": str(file.resolve()), "name": name or file.stem}
    if source == "numpy" and file.suffix.lower() == ".npy":
        if labels_path is None:
            raise ConfigError(f"{file}: a .npy file holds one array: expected labels_path= for its labels")
        descriptor["labels_path"] = str(Path(labels_path).resolve())
    if source == "csv":
        descriptor["label_column"] = label_column
    if source in ("numpy", "torch-file") and "labels_path" not in descriptor:
        descriptor |= {"features": keys.get("features", "features"), "labels": keys.get("labels", "labels")}
        descriptor |= {k: keys[k] for k in ("test_features", "test_labels") if k in keys}
    return descriptor


def _present(descriptor: Mapping[str, Any], key: str = "path") -> Path:
    value = descriptor.get(key)
    if not isinstance(value, str) or not value:
        raise FormatError(f"dataset.{key}: expected the path of the data file, found {_show(value)}")
    if not Path(value).exists():
        raise DataNotGiven(f"dataset {descriptor.get('name') or ''}: expected the data file at {value}, found nothing there; "
                           f"give your copy with --data {descriptor.get('name') or 'dataset'}=PATH")
    # the record names this path, and an attacker writes records: a FIFO would hang the loader,
    # /dev/zero fill memory. A regular file only (opened non-blocking, so a FIFO cannot hang this).
    os.close(open_regular(value, f"dataset.{key}"))
    return Path(value)


def _pair(found: Mapping[str, Any], descriptor: Mapping[str, Any], prefix: str, where: Path) -> Split | None:
    keys = [descriptor.get(f"{prefix}features"), descriptor.get(f"{prefix}labels")]
    if prefix and keys == [None, None]:
        return None
    missing = [k for k in keys if k not in found]
    if missing:
        raise FormatError(f"{where}: expected arrays {keys[0]!r} and {keys[1]!r}, found {sorted(found)[:8]}")
    return _checked(np.asarray(found[keys[0]]), np.asarray(found[keys[1]]), where)


def _checked(features: np.ndarray, labels: np.ndarray, where: Any) -> Split:
    if len(features) == 0 or len(features) != len(labels):
        raise FormatError(f"{where}: expected one label per sample and at least one sample, found {len(features)} samples "
                          f"and {len(labels)} labels")
    return features, labels


def _load_numpy(descriptor: Mapping[str, Any]) -> tuple[Split, Split | None]:
    path = _present(descriptor)
    try:
        if "labels_path" in descriptor:
            labels = np.load(_present(descriptor, "labels_path"), allow_pickle=False)
            return _checked(np.load(path, allow_pickle=False), labels, path), None
        with np.load(path, allow_pickle=False) as found:
            arrays = {k: found[k] for k in found.files}
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: expected a numpy .npy/.npz file, found it unreadable ({e})") from None
    return _pair(arrays, descriptor, "", path), _pair(arrays, descriptor, "test_", path)


def _load_torch_file(descriptor: Mapping[str, Any]) -> tuple[Split, Split | None]:
    import torch

    path = _present(descriptor)
    try:
        found = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no code runs
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise FormatError(f"{path}: expected a torch.save file of tensors, found it unreadable ({type(e).__name__})") from None
    if isinstance(found, (tuple, list)) and len(found) == 2:
        found = {descriptor.get("features", "features"): found[0], descriptor.get("labels", "labels"): found[1]}
    if not isinstance(found, dict):
        raise FormatError(f"{path}: expected (features, labels) or a dict of tensors, found {type(found).__name__}")
    arrays = {k: v.numpy() if hasattr(v, "numpy") else v for k, v in found.items()}
    return _pair(arrays, descriptor, "", path), _pair(arrays, descriptor, "test_", path)


def _load_csv(descriptor: Mapping[str, Any]) -> tuple[Split, Split | None]:
    import csv

    path = _present(descriptor)
    column = descriptor.get("label_column", "label")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: expected a UTF-8 CSV table, found it unreadable ({e})") from None
    if not rows or column not in rows[0]:
        raise FormatError(f"{path}: expected a header row with the label column {column!r}, found {rows[0][:8] if rows else 'no rows'}")
    at = rows[0].index(column)
    try:
        values = np.array([[float(v) for v in row] for row in rows[1:]], dtype=np.float64)
    except ValueError as e:
        raise FormatError(f"{path}: expected numbers in every cell, found {e}") from None
    if values.ndim != 2 or values.shape[1] != len(rows[0]):
        raise FormatError(f"{path}: expected {len(rows[0])} cells in every row, found rows of other lengths")
    return _checked(np.delete(values, at, axis=1), values[:, at].astype(np.int64), path), None


FILE_SOURCES = {"numpy": _load_numpy, "torch-file": _load_torch_file, "csv": _load_csv}


class FileData:
    """One split of data kept in a file, as a map-style dataset (`len`, `[i]` -> (features,
    label) tensors) that carries its descriptor (`provenance_source`): the tracker and the
    Lightning / Hugging Face callbacks record it, so `provenance verify` re-loads the file."""

    def __init__(self, features: np.ndarray, labels: np.ndarray, source: Mapping[str, Any]) -> None:
        self.features, self.labels, self.provenance_source = features, labels, dict(source)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        import torch

        return torch.as_tensor(self.features[index]), torch.as_tensor(self.labels[index])


def as_arrays(data: Any) -> Any:
    """A `FileData` as its `(features, labels)` arrays; anything else as it is."""
    return (data.features, data.labels) if isinstance(data, FileData) else data


def open_files(path_or_descriptor: str | Path | Mapping[str, Any], **options: Any) -> tuple[FileData, FileData | None]:
    """(train, test) datasets read from a file (`describe`'s forms), each carrying the descriptor."""
    descriptor = dict(path_or_descriptor) if isinstance(path_or_descriptor, Mapping) else describe(path_or_descriptor, **options)
    train, test = load(descriptor)
    return FileData(*train, descriptor), FileData(*test, descriptor) if test is not None else None


def source_of(train: Any, test: Any = None) -> dict[str, Any] | None:
    """The descriptor data objects carry, if they came from a file or folder a verifier can
    re-load: a `FileData`, or a Hugging Face `Dataset` loaded with `load_from_disk`."""
    carried = getattr(train, "provenance_source", None)
    if isinstance(carried, Mapping):
        return dict(carried)
    folder = _hf_folder(train)
    if folder is not None:
        test_folder = _hf_folder(test) if test is not None else None
        if test is None or test_folder is not None:
            if test_folder is not None and test_folder.parent == folder.parent and (folder.parent / "dataset_dict.json").is_file():
                return hf_disk_descriptor(folder.parent, train_split=folder.name, test_split=test_folder.name)
            return hf_disk_descriptor(folder, test_path=test_folder)
    return None


def _hf_folder(dataset: Any) -> Path | None:
    """The save_to_disk folder a Hugging Face `Dataset` was loaded from, untransformed (else None)."""
    files = getattr(dataset, "cache_files", None)
    if not files or len({Path(f.get("filename", "")).parent for f in files}) != 1:
        return None
    folder = Path(files[0]["filename"]).parent
    if not (folder / "state.json").is_file() or getattr(dataset, "_indices", None) is not None:
        return None
    return folder


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
            raise DataNotGiven(f"dataset.{key}: expected a folder written by save_to_disk, found no folder at {value}; "
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


