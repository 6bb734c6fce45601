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
