"""Dataset sources: the IDX reader on files the test writes, and the digits split."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from provenance.digests import datasets
from provenance.errors import ConfigError, FormatError


def write_idx(path, array: np.ndarray, type_code: int = 0x08) -> None:
    header = b"\0\0" + bytes([type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(array.dtype.newbyteorder(">")).tobytes())


def test_idx_roundtrip_and_split(idx_dataset):
    (x_train, y_train), (x_test, y_test) = datasets.load(datasets.mnist_descriptor(idx_dataset))
    assert x_train.shape == (64, 1, 28, 28) and x_test.shape == (16, 1, 28, 28)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert y_train.dtype == np.int64 and set(y_train) <= set(range(10))


def test_gzipped_idx(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = tmp_path / "raw"
    write_idx(raw, array)
    (tmp_path / "x.gz").write_bytes(gzip.compress(raw.read_bytes()))
    assert np.array_equal(datasets.read_idx(tmp_path / "x.gz"), array)


def test_big_endian_types(tmp_path):
    array = np.array([[1.5, -2.0], [3.25, 4.0]], dtype=np.float32)
    write_idx(tmp_path / "f", array, 0x0D)
    assert np.array_equal(datasets.read_idx(tmp_path / "f"), array)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "expected an IDX header"),
        (b"\x01\x02\x08\x01", "expected an IDX header"),
        (b"\0\0\x08\x03\0\0", "announces 3 dimensions"),
        (b"\0\0\x08\x01\0\0\0\x05abc", "expected 5 data bytes for shape (5,), found 3"),
    ],
)
def test_malformed_idx(tmp_path, content, message):
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(FormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        datasets.read_idx(tmp_path / "bad")


def test_missing_mnist_file(tmp_path):
    with pytest.raises(FormatError, match="expected MNIST file train-images-idx3-ubyte"):
        datasets.load(datasets.mnist_descriptor(tmp_path))


def test_digits_split_is_deterministic_and_disjoint():
    (a_train, a_labels), (a_test, _) = datasets.load(datasets.digits_descriptor(seed=3))
    (b_train, b_labels), _ = datasets.load(datasets.digits_descriptor(seed=3))
    (c_train, _), _ = datasets.load(datasets.digits_descriptor(seed=4))
    assert np.array_equal(a_train, b_train) and np.array_equal(a_labels, b_labels)
    assert not np.array_equal(a_train, c_train)
    assert len(a_train) + len(a_test) == 1797 and len(a_test) == 359


def test_unknown_and_custom_sources():
    with pytest.raises(FormatError, match="unknown source 'imagenet'"):
        datasets.load({"source": "imagenet"})
    with pytest.raises(ConfigError, match="pass the same train/test data"):
        datasets.load({"source": "custom"})


@pytest.mark.parametrize("seed", ["abc", -1, 2**32, 2**70, 1.5, True, None])
def test_digits_seed_out_of_range(seed):
    with pytest.raises(ConfigError, match=r"dataset.seed: expected an integer in 0..4294967295, found"):
        datasets.load({"source": "sklearn-digits", "seed": seed, "test_fraction": 0.2})


@pytest.mark.parametrize("fraction", [0, 1, -0.5, "0.2", True, float("nan")])
def test_digits_test_fraction_out_of_range(fraction):
    with pytest.raises(ConfigError, match=r"dataset.test_fraction: expected a number in \(0, 1\)"):
        datasets.load({"source": "sklearn-digits", "seed": 0, "test_fraction": fraction})


def write_mnist(folder, images: np.ndarray, labels: np.ndarray, image_type: int = 0x08) -> None:
    folder.mkdir(exist_ok=True)
    for split in ("train", "t10k"):
        write_idx(folder / f"{split}-images-idx3-ubyte", images, image_type)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels)


@pytest.mark.parametrize(
    "images, labels, image_type, message",
    [
        (np.zeros((3, 4, 4), np.uint8), np.array([1, 10, 2], np.uint8), 0x08, "train: expected labels in 0..9, found 10"),
        (np.zeros((3, 4, 4), np.uint8), np.array([1, 2, 3], np.int8) * -1, 0x08, "train: expected labels in 0..9, found -1"),
        (np.zeros((0, 4, 4), np.uint8), np.zeros(0, np.uint8), 0x08, "train: expected at least one sample, found 0"),
        (np.array([[[np.inf]]], np.float32), np.array([1], np.uint8), 0x0D, "train: expected finite feature values"),
    ],
    ids=["label-10", "negative-label", "zero-samples", "infinite-pixel"],
)
def test_idx_dataset_checked_at_load(tmp_path, images, labels, image_type, message):
    if labels.dtype == np.int8:
        folder = tmp_path / "mnist"
        folder.mkdir()
        for split in ("train", "t10k"):
            write_idx(folder / f"{split}-images-idx3-ubyte", images)
            write_idx(folder / f"{split}-labels-idx1-ubyte", labels, 0x09)
    else:
        write_mnist(tmp_path / "mnist", images, labels, image_type)
    with pytest.raises(FormatError, match=message):
        datasets.load(datasets.mnist_descriptor(tmp_path / "mnist"))


def test_cut_gzip_is_one_line(tmp_path):
    raw = tmp_path / "raw"
    write_idx(raw, np.arange(600, dtype=np.uint8).reshape(6, 10, 10))
    (tmp_path / "x.gz").write_bytes(gzip.compress(raw.read_bytes())[:-12])
    with pytest.raises(FormatError, match="expected a complete gzip stream, found one cut short"):
        datasets.read_idx(tmp_path / "x.gz")
    (tmp_path / "y.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(60)))
    with pytest.raises(FormatError, match="cannot read the IDX file"):
        datasets.read_idx(tmp_path / "y.gz")


def test_descriptor_not_an_object():
    with pytest.raises(FormatError, match="dataset: expected an object describing the data, found list"):
        datasets.load(["sklearn-digits"])
