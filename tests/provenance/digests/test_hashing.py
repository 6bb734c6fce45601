"""Content digests (`provenance-canonical/v1`): pinned against a plain re-implementation of the
canonical bytes written here with `struct`, one leaf per changed artifact, every input type of a
dataset giving the same leaves, the staging pipeline equal to the plain path, bad input, and the
GPU checkpoint benchmark still running (its CPU smoke run)."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from blake3 import blake3
from torch.utils.data import Subset, TensorDataset

from provenance.digests import hashing
from provenance.errors import FormatError, ProvenanceError
from provenance.merkle import Leaf
from provenance.digests.hashing import (
    CANONICALIZATION,
    dataset_leaves,
    file_leaves,
    hash_array,
    hash_bytes,
    hash_file,
    hash_tensor,
    state_dict_leaves,
)
from provenance.digests import staging
from provenance.digests.staging import Stager, ThreadCopier


def canonical_bytes(dtype: str, shape: tuple[int, ...], data: bytes) -> bytes:
    """The spec, written plainly: little-endian data, then u64le dims, u8 ndim, name, u8 name length."""
    out = data
    for dim in shape:
        out += struct.pack("<Q", dim)
    return out + bytes([len(shape)]) + dtype.encode("ascii") + bytes([len(dtype)])


def digest_of(*parts: bytes) -> bytes:
    return blake3(b"".join(parts)).digest()


def one_line(info: pytest.ExceptionInfo) -> str:
    message = str(info.value)
    assert "\n" not in message and message
    return message


# -- arrays and tensors ----------------------------------------------------------------------

VALUES_2x3 = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
FLOAT32_2x3 = canonical_bytes("float32", (2, 3), struct.pack("<6f", *VALUES_2x3))


def test_canonicalization_is_named():
    assert CANONICALIZATION == "provenance-canonical/v1"


def test_trailer_bytes_are_pinned():
    # The docstring's example: the two dimensions as u64le, 02, "float32", 07.
    expected = "0200000000000000" + "0300000000000000" + "02" + b"float32".hex() + "07"
    assert hashing.tensors.trailer("float32", (2, 3)).hex() == expected == FLOAT32_2x3[24:].hex()


def test_known_answers():
    """Fixed vectors another implementation can check itself against."""
    tensor = np.array(VALUES_2x3, dtype=np.float32).reshape(2, 3)
    assert hash_array(tensor)[0].hex() == "b70b47420644706b43d44b80052f32a4b3f5a9dd7eccbf3bb23527a0eacbbac6"
    (sample,) = dataset_leaves((np.arange(4, dtype=np.uint8).reshape(1, 2, 2), np.array([7])), "train")
    assert sample.digest.hex() == "b78607f483630e70b73d9ba9e3fe596dab71942bfe9725f89ed57960c61657b1"


@pytest.mark.parametrize(
    "array, dtype, shape, data",
    [
        (np.array(VALUES_2x3, dtype=np.float32).reshape(2, 3), "float32", (2, 3), struct.pack("<6f", *VALUES_2x3)),
        (np.array([[1, -2], [3, -4]], dtype=">i4"), "int32", (2, 2), struct.pack("<4i", 1, -2, 3, -4)),
        (np.arange(6, dtype=np.int64).reshape(2, 3).T, "int64", (3, 2), struct.pack("<6q", 0, 3, 1, 4, 2, 5)),
        (np.array([True, False, True]), "bool", (3,), b"\x01\x00\x01"),
        (np.array([1 + 2j, complex(0, -3.5)], dtype=np.complex64), "complex64", (2,), struct.pack("<4f", 1, 2, 0, -3.5)),
        (np.array([1 + 2j], dtype=">c16"), "complex128", (1,), struct.pack("<2d", 1, 2)),
        (np.array(7, dtype=np.uint16), "uint16", (), struct.pack("<H", 7)),
        (np.array([-0.0, 1.5], dtype=np.float16), "float16", (2,), struct.pack("<2e", -0.0, 1.5)),
        (np.zeros((0, 4), dtype=np.float64), "float64", (0, 4), b""),
    ],
    ids=["float32", "big-endian-int32", "transposed", "bool", "complex64", "big-endian-complex128", "0-d",
         "float16", "empty"],
)
def test_array_digest_is_the_spec(array, dtype, shape, data):
    assert hash_array(array) == (digest_of(canonical_bytes(dtype, shape, data)), len(data))


TENSOR_CASES = [
    (torch.tensor(VALUES_2x3).reshape(2, 3), "float32", (2, 3), struct.pack("<6f", *VALUES_2x3)),
    # bfloat16 is the upper half of a float32; these values are exact in bfloat16.
    (torch.tensor([1.5, -2.0], dtype=torch.bfloat16), "bfloat16", (2,),
     struct.pack("<f", 1.5)[2:] + struct.pack("<f", -2.0)[2:]),
    (torch.tensor([0x38, 0x40], dtype=torch.uint8).view(torch.float8_e4m3fn), "float8_e4m3fn", (2,), b"\x38\x40"),
    (torch.tensor([0x3C], dtype=torch.uint8).view(torch.float8_e5m2), "float8_e5m2", (1,), b"\x3c"),
    (torch.tensor([True, False]), "bool", (2,), b"\x01\x00"),
    (torch.tensor([1 + 2j], dtype=torch.complex64).conj(), "complex64", (1,), struct.pack("<2f", 1, -2)),
    (torch.arange(6, dtype=torch.int16).reshape(2, 3)[:, ::2], "int16", (2, 2), struct.pack("<4h", 0, 2, 3, 5)),
    (torch.tensor(3, dtype=torch.int64), "int64", (), struct.pack("<q", 3)),
    (torch.ones(2, 2, requires_grad=True), "float32", (2, 2), struct.pack("<4f", 1, 1, 1, 1)),
    # the negative bit on a contiguous tensor (what .conj().imag sets, laid out densely)
    (torch._neg_view(torch.tensor([1.0, -2.0])), "float32", (2,), struct.pack("<2f", -1, 2)),
]
TENSOR_IDS = ["float32", "bfloat16", "float8_e4m3fn", "float8_e5m2", "bool", "conj-view", "strided", "0-d", "requires-grad",
              "neg-view"]


@pytest.mark.parametrize("tensor, dtype, shape, data", TENSOR_CASES, ids=TENSOR_IDS)
def test_tensor_digest_is_the_spec(tensor, dtype, shape, data):
    assert hash_tensor(tensor) == (digest_of(canonical_bytes(dtype, shape, data)), len(data))


def test_state_dict_of_every_layout_is_the_spec():
    """A state dict takes each CPU tensor's memory as it is where it can (contiguous, a numpy
    dtype, no conjugate or negative bit) and lays it out otherwise: the spec's bytes either way."""
    assert torch._neg_view(torch.ones(1)).is_neg() and TENSOR_CASES[5][0].is_conj()
    state = {name: case[0] for name, case in zip(TENSOR_IDS, TENSOR_CASES)}
    expected = [Leaf("model.param", name, digest_of(canonical_bytes(dtype, shape, data)), len(data))
                for name, (_, dtype, shape, data) in zip(TENSOR_IDS, TENSOR_CASES)]
    assert state_dict_leaves(state) == expected


def test_numpy_and_torch_agree():
    array = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    assert hash_array(array) == hash_tensor(torch.from_numpy(array))
    assert hash_array(array.astype(">f4")) == hash_array(array)


def test_dtype_and_shape_change_the_digest():
    base = np.arange(12, dtype=np.int32)
    digests = {
        hash_array(base)[0],
        hash_array(base.view(np.float32))[0],  # same bytes, other dtype
        hash_array(base.view(np.uint32))[0],
        hash_array(base.reshape(3, 4))[0],  # same bytes, other shape
        hash_array(base.reshape(4, 3))[0],
        hash_array(base.reshape(1, 12))[0],
        hash_array(np.array(5, dtype=np.int32))[0],
        hash_array(np.array([5], dtype=np.int32))[0],
    }
    assert len(digests) == 8


def test_large_array_in_steps_with_progress(monkeypatch):
    monkeypatch.setattr(hashing, "STEP", 1 << 20)
    array = np.random.default_rng(1).integers(0, 255, size=(3 << 20) + 5, dtype=np.uint8)
    expected = digest_of(canonical_bytes("uint8", array.shape, array.tobytes()))
    seen: list[int] = []
    assert hashing._digest(hashing.tensors.numpy_canonical(array, "a"), seen.append) == (expected, array.size)
    assert sum(seen) == array.size and len(seen) == 4


# -- files and directories -------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, hashing.PARALLEL_MIN - 1, hashing.PARALLEL_MIN + 17])
def test_file_digest_is_blake3_of_its_bytes(tmp_path, size):
    data = random.Random(size).randbytes(size)
    (tmp_path / "f").write_bytes(data)
    assert hash_file(tmp_path / "f") == (blake3(data).digest(), size)


def test_large_file_reports_progress(tmp_path, monkeypatch):
    monkeypatch.setattr(hashing, "STEP", 1 << 20)
    data = random.Random(3).randbytes((5 << 20) + 3)
    (tmp_path / "big").write_bytes(data)
    seen: list[int] = []
    assert hash_file(tmp_path / "big", progress=seen.append) == (blake3(data).digest(), len(data))
    assert sum(seen) == len(data) and len(seen) == 6


def make_tree(root):
    files = {"a.txt": b"alpha", "sub/b.bin": b"\x00" * 100, "sub/deeper/c": b"gamma", "Z": b"", "sub/a": b"x"}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "empty-dir").mkdir()
    return files


def test_directory_leaves_are_sorted_relative_posix_paths(tmp_path):
    files = make_tree(tmp_path)
    leaves = file_leaves(tmp_path, kind="code.file")
    assert [leaf.name for leaf in leaves] == sorted(files) == ["Z", "a.txt", "sub/a", "sub/b.bin", "sub/deeper/c"]
    for leaf in leaves:
        assert (leaf.kind, leaf.digest, leaf.size) == ("code.file", blake3(files[leaf.name]).digest(), len(files[leaf.name]))


def test_single_file_leaf_is_named_by_its_base_name(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"weights")
    (leaf,) = file_leaves(tmp_path / "model.pt")
    assert (leaf.kind, leaf.name, leaf.digest, leaf.size) == ("file", "model.pt", blake3(b"weights").digest(), 7)


def test_flipped_byte_in_a_file_changes_exactly_that_leaf(tmp_path):
    make_tree(tmp_path)
    before = file_leaves(tmp_path)
    path = tmp_path / "sub/b.bin"
    data = bytearray(path.read_bytes())
    data[37] ^= 0x01
    path.write_bytes(bytes(data))
    after = file_leaves(tmp_path)
    assert [b.name for b, a in zip(before, after) if b != a] == ["sub/b.bin"]


def test_symlink_to_a_file_is_followed(tmp_path):
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs/123").write_bytes(b"blob")
    (tmp_path / "snap").mkdir()
    os.symlink("../blobs/123", tmp_path / "snap/model.bin")
    assert file_leaves(tmp_path / "snap") == [Leaf("file", "model.bin", blake3(b"blob").digest(), 4)]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: os.symlink(d / "target", d / "link"), "found a symlink to a directory (not followed)"),
        (lambda d: os.symlink(d / "nowhere", d / "link"), "expected a file, found a dangling symlink"),
        (lambda d: os.mkfifo(d / "pipe"), "expected a regular file, found a FIFO"),
    ],
    ids=["dir-symlink", "dangling-symlink", "fifo"],
)
def test_special_entries_in_a_directory_are_errors(tmp_path, make, message):
    (tmp_path / "target").mkdir()
    (tmp_path / "target/f").write_bytes(b"f")
    make(tmp_path)
    with pytest.raises(FormatError) as info:
        file_leaves(tmp_path)
    assert message in one_line(info)


# -- state dicts -----------------------------------------------------------------------------

def small_state():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    return model, model.state_dict()


def test_state_dict_leaves_one_per_tensor():
    model, state = small_state()
    leaves = state_dict_leaves(state)
    assert [leaf.name for leaf in leaves] == list(state)
    for leaf, tensor in zip(leaves, state.values()):
        assert (leaf.kind, leaf.digest, leaf.size) == ("model.param", *hash_tensor(tensor))
    assert leaves[0].size == 4 * 3 * 4
    assert state_dict_leaves(model) == leaves
    as_numpy = {k: v.numpy() for k, v in state.items()}
    assert state_dict_leaves(as_numpy, kind="model.init") == [
        Leaf("model.init", leaf.name, leaf.digest, leaf.size) for leaf in leaves]


def test_one_changed_element_changes_exactly_that_leaf():
    _, state = small_state()
    before = state_dict_leaves(state)
    state["2.weight"].view(-1)[3] = torch.nextafter(state["2.weight"].view(-1)[3], torch.tensor(1.0))
    after = state_dict_leaves(state)
    assert [b.name for b, a in zip(before, after) if b != a] == ["2.weight"]


# -- the staging pipeline (what GPU tensors go through), driven with CPU tensors ---------------

class JitteryThreadCopier(ThreadCopier):
    """A thread copier whose copies land after random delays (up to 1 ms): if the stager read a
    buffer before its copy landed, or queued a copy into a buffer whose chunk was not hashed
    yet, the digests would differ."""

    def start(self, src, dst):
        delay = random.random() / 1000

        def late_copy():
            time.sleep(delay)
            dst.copy_(src)

        future = self._pool.submit(late_copy)
        return future.result


MIXED = [
    torch.randn(33, 17, generator=torch.Generator().manual_seed(1)),
    torch.zeros(0, 3),
    torch.tensor(2.5, dtype=torch.float64),
    torch.arange(1000, dtype=torch.int32).reshape(10, 100)[:, ::3],  # non-contiguous
    torch.randn(257, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16),
    torch.tensor([True, False, True]),
    torch.randn(5, dtype=torch.complex64, generator=torch.Generator().manual_seed(3)),
    torch.randint(0, 255, (3 * 4096 + 1,), dtype=torch.uint8, generator=torch.Generator().manual_seed(4)),
]


@pytest.mark.parametrize(
    "copier, chunk, depth",
    [(ThreadCopier, 1, 2), (ThreadCopier, 7, 2), (ThreadCopier, 4096, 3), (ThreadCopier, 1 << 20, 2),
     (JitteryThreadCopier, 61, 2), (JitteryThreadCopier, 509, 3)],
)
def test_pipeline_digests_equal_the_plain_path(copier, chunk, depth):
    stager = Stager(copier(chunk, depth))
    progress: list[int] = []
    assert stager.hash_tensors(MIXED, progress=progress.append) == [hash_tensor(t) for t in MIXED]
    assert sum(progress) == sum(t.numel() * t.element_size() for t in MIXED)


@pytest.mark.parametrize("copier", [ThreadCopier, JitteryThreadCopier])
def test_a_chunk_is_in_its_buffer_until_the_next_is_asked_for(copier):
    """The ring's invariant, checked directly: each yielded buffer already holds its chunk and
    stays untouched while the consumer works on it (here: sleeps), whatever the copies do."""
    chunk = 512
    stager = Stager(copier(chunk, 2))
    expected = [(i, bytes(hashing.tensors.torch_bytes(t)[o : o + chunk].numpy()))
                for i, t in enumerate(MIXED) for o in range(0, t.numel() * t.element_size(), chunk)]
    seen = []
    for index, n, host in stager._staged(MIXED):
        held = bytes(host[:n])
        time.sleep(0.002)  # a copy wrongly queued into this buffer lands meanwhile
        assert bytes(host[:n]) == held
        seen.append((index, held))
    assert seen == expected


def test_a_consumer_that_stops_early_leaves_the_ring_clean():
    stager = staging.stager_for(torch.device("cpu"), 96, 3)
    assert staging.stager_for(torch.device("cpu"), 96, 3) is stager  # buffers kept for reuse
    staged = stager._staged(MIXED)
    next(staged), next(staged)
    staged.close()
    assert stager.hash_tensors(MIXED) == [hash_tensor(t) for t in MIXED]


def test_pipeline_is_reusable_and_serialises_concurrent_callers():
    stager = Stager(ThreadCopier(64, 2))
    expected = [hash_tensor(t) for t in MIXED]
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(stager.hash_tensors(MIXED))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 3


# -- datasets --------------------------------------------------------------------------------

def sample_data(n=25):
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, size=(n, 3, 2), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.int64)


class PairDataset(torch.utils.data.Dataset):
    """An indexable dataset yielding (tensor, int) pairs, like torchvision's datasets."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return torch.from_numpy(self.x[i]), int(self.y[i])


def test_sample_digest_is_the_spec():
    x, y = sample_data()
    leaves = dataset_leaves((x, y), "train")
    assert [leaf.name for leaf in leaves][:2] == ["train/000000", "train/000001"]
    for i, leaf in enumerate(leaves):
        expected = digest_of(canonical_bytes("uint8", (3, 2), x[i].tobytes()),
                             canonical_bytes("int64", (), struct.pack("<q", int(y[i]))))
        assert (leaf.kind, leaf.digest, leaf.size) == ("data.sample", expected, 6)


def test_every_dataset_input_type_gives_the_same_leaves():
    x, y = sample_data()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    expected = dataset_leaves((x, y), "test")
    assert dataset_leaves((tx, ty), "test") == expected
    assert dataset_leaves((x, ty), "test") == expected
    assert dataset_leaves(TensorDataset(tx, ty), "test") == expected
    assert dataset_leaves(PairDataset(x, y), "test") == expected
    indices = [4, 0, 17]
    subset = [Leaf(leaf.kind, f"test/{i:06d}", leaf.digest, leaf.size)
              for i, leaf in enumerate(expected[j] for j in indices)]
    assert dataset_leaves(Subset(TensorDataset(tx, ty), indices), "test") == subset
    assert dataset_leaves(Subset(PairDataset(x, y), indices), "test") == subset


def test_fast_path_spans_several_chunks(monkeypatch):
    x, y = sample_data(100)
    expected = dataset_leaves(PairDataset(x, y), "train")
    monkeypatch.setattr(hashing, "_ROWS_BYTES", 3 * 60)  # a few samples per chunk, last one partial
    assert dataset_leaves((x, y), "train") == expected


def test_labels_of_other_types():
    x = np.ones((2, 2), dtype=np.float32)
    for label, dtype, data in [(1.5, "float64", struct.pack("<d", 1.5)), (True, "bool", b"\x01"),
                               (torch.tensor([1, 2], dtype=torch.int8), "int8", b"\x01\x02")]:
        (leaf, _) = dataset_leaves([(x[0], label), (x[1], label)], "s")
        assert leaf.digest == digest_of(canonical_bytes("float32", (2,), struct.pack("<2f", 1, 1)),
                                        canonical_bytes(dtype, tuple(np.shape(label)), data))


def test_changed_sample_or_label_changes_exactly_that_leaf():
    x, y = sample_data()
    before = dataset_leaves((x, y), "train")
    x2 = x.copy()
    x2[11, 2, 1] ^= 0x80
    assert [b.name for b, a in zip(before, dataset_leaves((x2, y), "train")) if b != a] == ["train/000011"]
    y2 = y.copy()
    y2[20] += 1
    assert [b.name for b, a in zip(before, dataset_leaves((x, y2), "train")) if b != a] == ["train/000020"]


def test_names_widen_past_a_million_samples():
    names = hashing._sample_names("train", 1_000_001)
    assert (names[0], names[-1]) == ("train/0000000", "train/1000000")
    assert hashing._sample_names("train", 1_000_000)[-1] == "train/999999"


def test_empty_dataset_has_no_leaves():
    assert dataset_leaves((np.zeros((0, 3)), np.zeros(0)), "train") == []


# -- bad input: one line, what was expected and what was found --------------------------------

@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: hash_file(p / "missing.bin"), FormatError, "missing.bin: expected a file or directory, found nothing"),
        (lambda p: file_leaves(p / "missing"), FormatError, "found nothing at that path"),
        (lambda p: hash_file(p), FormatError, "expected a regular file, found a directory (use file_leaves"),
        (lambda p: hash_bytes("text"), FormatError, "expected bytes, found str"),
        (lambda p: hash_array(torch.zeros(2)), FormatError, "expected a numpy array, found torch.Tensor (use hash_tensor)"),
        (lambda p: hash_tensor(np.zeros(2)), FormatError, "expected a torch tensor, found numpy.ndarray (use hash_array)"),
        (lambda p: hash_tensor([1.0]), FormatError, "expected a torch tensor, found list"),
        (lambda p: hash_array(np.array([{}, 1], dtype=object)), FormatError, "expected a numeric array (bool, int, float, complex), found dtype object"),
        (lambda p: hash_array(np.array(["a"])), FormatError, "found dtype <U1"),
        (lambda p: hash_array(np.zeros(2, dtype=np.longdouble)), FormatError, "found dtype float128"),
        (lambda p: hash_tensor(torch.zeros(2).to_sparse()), FormatError, "expected a dense (strided) tensor"),
        (lambda p: hash_tensor(torch.empty(2, device="meta")), FormatError, "found one on the meta device"),
        (lambda p: state_dict_leaves({"w": torch.zeros(1), "step": 3}), FormatError,
         "state dict entry 'step': expected a tensor or numpy array, found int"),
        (lambda p: state_dict_leaves({"w": np.array([None])}), FormatError, "state dict entry 'w': expected a numeric array"),
        (lambda p: state_dict_leaves([torch.zeros(1)]), FormatError, "expected a state dict (a mapping of names to tensors), found list"),
        (lambda p: state_dict_leaves({1: torch.zeros(1)}), FormatError, "state dict key: expected a string, found int"),
        (lambda p: dataset_leaves((np.zeros((3, 2)), np.zeros(2)), "train"), FormatError,
         "dataset 'train': expected as many labels as samples (3), found 2"),
        (lambda p: dataset_leaves([(np.zeros(2), "cat")], "train"), FormatError,
         "dataset sample train/000000 label: expected a numpy array or torch tensor, found str"),
        (lambda p: dataset_leaves([np.zeros(2), np.zeros(2)], "train"), FormatError,
         "dataset sample train/000000: expected an (x, y) pair, found numpy.ndarray"),
        (lambda p: dataset_leaves(42, "train"), FormatError, "found int"),
        (lambda p: dataset_leaves((np.zeros(2), np.zeros(2)), ""), FormatError, "expected a non-empty name"),
        (lambda p: dataset_leaves([(np.zeros(2), 2**70)], "t"), FormatError, "expected an integer that fits in int64"),
    ],
)
def test_bad_input_is_one_line(tmp_path, call, error, message):
    with pytest.raises(error) as info:
        call(tmp_path)
    assert message in one_line(info)
    assert isinstance(info.value, ProvenanceError)


# -- the GPU checkpoint benchmark stays runnable ------------------------------------------------

def run_gpu_bench(*args: str) -> subprocess.CompletedProcess:
    root = Path(__file__).parents[3]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, str(root / "bench/gpu_checkpoint.py"), *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_gpu_bench_refuses_to_run_without_cuda():
    result = run_gpu_bench("--small")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("error: expected a CUDA device, found none (torch.cuda.is_available() is False); "
                                     "this benchmark measures GPU checkpoints, pass --allow-cpu for a CPU smoke run")


def test_gpu_bench_smoke_run_on_cpu():
    result = run_gpu_bench("--small", "--allow-cpu", "--repeat", "1", "--chunk-mib", "1")
    assert result.returncode == 0, result.stderr
    assert "digests equal to the plain CPU-copy digests: yes (8 tensors)" in result.stdout
    assert "ratio hashing / step: plain " in result.stdout
