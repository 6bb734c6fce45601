"""Many digests per call (`provenance.digests.hasher`): the official BLAKE3 C code driven through
its multi-input path gives blake3-py's bytes for every length class, its pure fallback gives the
same, and dataset and state-dict leaves are those of the implementation before the native path
(known answers computed at commit 8928bf9)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from blake3 import blake3

from provenance.digests import hasher, hashing
from provenance.digests.hashing import dataset_leaves, state_dict_leaves
from provenance.digests.tensors import trailer
from provenance.merkle import Leaf

ROOT = Path(__file__).resolve().parents[3]
# One-chunk rows: empty, inside the first block, block edges, the MNIST sample (784 + trailers),
# chunk edges; then rows of several chunks (blake3_hasher, not hash_many).
WIDTHS = [0, 1, 2, 63, 64, 65, 127, 128, 129, 784, 822, 960, 1023, 1024, 1025, 2048, 3072 + 23, 4096, 5000]
# Fewer rows than one SIMD group, a group and one, several threads' worth of work (ROW_GRAIN 2048).
COUNTS = [0, 1, 15, 16, 17, 64, 65, 4500]


def rows_of(columns, count):
    """Row i of `columns` as hash_rows defines it, spelled out."""
    return [b"".join(bytes(buf[i * stride : (i + 1) * stride]) if stride else bytes(buf) for buf, stride in columns)
            for i in range(count)]


def blake3_each(messages):
    return b"".join(blake3(m).digest() for m in messages)


@pytest.fixture(params=["native", "python"])
def backend(request, monkeypatch):
    """Each test once with the C extension and once with blake3-py one input at a time."""
    if request.param == "python":
        monkeypatch.setattr(hasher, "native", None)
    else:
        assert hasher.native is not None, "the tests need the C extension: run `make setup`"
    return request.param


def test_the_extension_is_built_from_the_pinned_official_sources():
    assert hasher.BACKEND == "native" and hasher.native.simd_degree() >= 1
    source = (ROOT / "provenance/digests/_native/blake3/SOURCE").read_text()
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import fetch_blake3_c
    finally:
        sys.path.remove(str(ROOT / "tools"))
    assert source == f"blake3-{fetch_blake3_c.VERSION}.tar.gz sha256:{fetch_blake3_c.SHA256}\n"
    licence = ROOT / "provenance/digests/_native/LICENSE-blake3"
    assert (ROOT / "provenance/digests/_native/blake3/LICENSE").read_bytes() == licence.read_bytes()
    assert licence.read_text().startswith("This work is released into the public domain with CC0 1.0.")


@pytest.mark.parametrize("width", WIDTHS)
def test_rows_are_blake3_of_each_row(backend, width):
    rng = np.random.default_rng(width)
    for count in COUNTS if backend == "native" else [0, 1, 17, 65]:
        data = rng.integers(0, 256, size=count * width, dtype=np.uint8)
        assert hasher.hash_rows([(data, width)], count) == blake3_each(rows_of([(data, width)], count)), count


@pytest.mark.parametrize("width", [0, 1, 63, 64, 65, 784, 1023, 1024, 1025, 4096])
def test_rows_of_several_columns_with_shared_trailers(backend, width):
    """The dataset layout: per-row slices and bytes every row shares, in any order."""
    rng = np.random.default_rng(1000 + width)
    count = 300
    x = rng.integers(0, 256, size=(count, width), dtype=np.uint8)
    y = rng.integers(0, 256, size=(count, 8), dtype=np.uint8)
    columns = [(b"head", 0), (x, width), (b"x-trailer" * 3, 0), (y, 8), (b"", 0), (b"y", 0)]
    expected = blake3_each(rows_of([(x.reshape(-1), width), (b"x-trailer" * 3, 0)], count))
    expected_full = blake3_each(rows_of([(b"head", 0), (x.reshape(-1), width), (b"x-trailer" * 3, 0),
                                         (y.reshape(-1), 8), (b"", 0), (b"y", 0)], count))
    assert hasher.hash_rows(columns, count, threads=2) == expected_full
    assert hasher.hash_rows([(x, width), (b"x-trailer" * 3, 0)], count, threads=1) == expected


def test_rows_on_one_thread_equal_rows_on_many():
    data = np.random.default_rng(7).integers(0, 256, size=9000 * 822, dtype=np.uint8)
    one = hasher.hash_rows([(data, 822)], 9000, threads=1)
    assert hasher.hash_rows([(data, 822)], 9000, threads=8) == one == blake3_each(rows_of([(data, 822)], 9000))


def test_concurrent_callers_and_a_forked_child_get_the_same_digests():
    """The native thread pool serves one call at a time (others hash alone) and is started anew
    in a forked child, which has none of its threads."""
    rng = np.random.default_rng(8)
    items = [(rng.integers(0, 256, size=(1 << 20) + i, dtype=np.uint8), b"t") for i in range(12)]
    expected = blake3_each(bytes(a) + t for a, t in items)
    assert hasher.hash_items(items, 2) == expected  # the parent's pool is started
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: hasher.hash_items(items, 2), range(8))) == [expected] * 8
    with multiprocessing.get_context("fork").Pool(1) as child:
        assert child.apply(_hash_items_in_child, (items,)) == expected


def _hash_items_in_child(items):
    return hasher.hash_items(items, 2)


def test_a_column_of_the_wrong_size_is_refused(backend):
    with pytest.raises(ValueError, match=r"column 1: expected 3 rows of 4 bytes, found 11 bytes"):
        hasher.hash_rows([(b"abc", 0), (b"x" * 11, 4)], 3)


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_items_are_blake3_of_their_parts(backend, threads):
    rng = np.random.default_rng(threads)
    sizes = [(0,), (), (1, 0, 2), (63, 1), (1024,), (1025, 23), (3 << 20, 23), (hasher.PARALLEL_MIN, 7), (4096,) * 5]
    items = [[rng.integers(0, 256, size=n, dtype=np.uint8) for n in parts] for parts in sizes]
    expected = blake3_each(b"".join(p.tobytes() for p in parts) for parts in items)
    assert hasher.hash_items(items, threads) == expected
    assert hasher.hash_items([], threads) == b""


def split_sizes():
    """Data sizes around the native split: chunk edges next to a piece (PIECE_LEN), the smallest
    split buffer (SPLIT_LEN), subtrees of one to sixteen pieces, and buffers whose cut into
    power-of-two subtrees leaves a lone chunk or a partial one at the end."""
    piece, chunk = hasher.native.PIECE_LEN, 1024
    bases = [piece, 2 * piece, 3 * piece, 4 * piece, 5 * piece + 7 * chunk, 8 * piece, 16 * piece + piece]
    steps = [-chunk - 1, -chunk, -1, 0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + 5]
    return sorted({b + d for b in bases for d in steps})


def test_a_big_item_hashed_on_many_threads_is_blake3_of_its_bytes():
    """The data of a big item is cut into subtrees that several threads hash (see blake3_native.c):
    every size around the cut's edges, with no trailer, a tensor's, and one of more than a
    chunk, equals blake3-py over the same bytes, and equals the one-thread digest (no cut)."""
    sizes = split_sizes()
    data = np.random.default_rng(20).integers(0, 256, size=sizes[-1] + 3, dtype=np.uint8)
    for trailer in (b"", bytes(range(28)), b"t" * 1500):
        items = [(data[:n], trailer) for n in sizes] + [(data[3 : 3 + n], trailer) for n in sizes[::7]]  # unaligned too
        expected = blake3_each(bytes(buffer) + trailer for buffer, _ in items)
        assert hasher.hash_items(items, 1) == expected
        for threads in (2, 3, 8):
            assert hasher.hash_items(items, threads) == expected, (threads, len(trailer))


def test_one_big_item_alone_and_among_small_ones():
    rng = np.random.default_rng(21)
    big = rng.integers(0, 256, size=(5 << 20) + 1000, dtype=np.uint8)
    small = [rng.integers(0, 256, size=n, dtype=np.uint8) for n in (0, 5, 4096, hasher.native.SPLIT_LEN - 1)]
    items = [(small[0], b"a"), (big, b"trailer"), (small[1],), (), (small[2], b"x", b"y"), (big[:(1 << 20)],), (small[3], b"z")]
    expected = blake3_each(b"".join(bytes(p) for p in parts) for parts in items)
    assert hasher.hash_items(items, 2) == hasher.hash_items(items, 1) == expected
    assert hasher.hash_items([(big, b"trailer")], 2) == expected[32:64]


@pytest.mark.parametrize("threads", [None, 1])
def test_state_dict_leaves_around_the_native_split(backend, threads):
    """Tensors whose data sizes lie around the split, hashed as a state dict, give blake3-py's
    digests of `data || trailer` on every thread count and both paths."""
    piece = hasher.native.PIECE_LEN if hasher.native else 256 << 10
    g = np.random.default_rng(22)
    sizes = [piece // 4 - 1, piece // 4, 2 * piece // 4, (2 * piece + 1024) // 4 + 1, hashing.LARGE // 4 + 5]
    state = {f"t{n}": torch.from_numpy(g.standard_normal(n, dtype=np.float32)) for n in sizes}
    expected = [Leaf("model.param", k, blake3(v.numpy().tobytes() + trailer("float32", (len(v),))).digest(), 4 * len(v))
                for k, v in state.items()]
    assert state_dict_leaves(state, threads=threads) == expected


def test_native_leaves_are_leaves():
    digests = blake3_each(str(i).encode() for i in range(40))
    made = hashing._leaves("data.sample", "val/", 7, 999_980, digests, 12)
    expected = [Leaf("data.sample", f"val/{999_980 + i:07d}", digests[32 * i : 32 * i + 32], 12) for i in range(40)]
    assert made == expected and [type(leaf) for leaf in made] == [Leaf] * 40
    assert [hash(leaf) for leaf in made] == [hash(leaf) for leaf in expected]
    assert made[-1].name == "val/1000019" and made[0].label == "data.sample:val/0999980"
    # A split name outside ASCII goes through the general path, with the same names.
    assert [leaf.name for leaf in hashing._leaves("k", "épreuve/", 6, 0, digests[:64], 1)] == ["épreuve/000000", "épreuve/000001"]


def test_native_leaves_refuse_a_class_without_the_four_slots():
    class NotALeaf:
        kind, name, digest, size = "k", "n", bytes(32), 0  # class attributes, not slots

    with pytest.raises(TypeError, match="expected NotALeaf.kind to be a slot"):
        hasher.native.make_leaves(NotALeaf, "k", "p/", 6, 0, bytes(32), 1)
    with pytest.raises(AttributeError):
        hasher.native.make_leaves(int, "k", "p/", 6, 0, bytes(32), 1)


# -- leaves equal to those of the implementation before the native path --------------------------
# Each figure is blake3 over the leaves' (kind, name, digest, size), computed with the code of
# commit 8928bf9 (blake3-py one sample, one tensor at a time) on these same inputs.

def summary(leaves):
    h = blake3()
    for leaf in leaves:
        h.update(leaf.kind.encode() + b"\0" + leaf.name.encode() + b"\0" + leaf.digest + leaf.size.to_bytes(8, "little"))
    return h.hexdigest()


def test_dataset_leaves_equal_those_before_the_native_path(backend):
    rng = np.random.default_rng(14)
    x = rng.integers(0, 256, size=(3000, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=3000, dtype=np.int64)
    assert summary(dataset_leaves((x, y), "train")) == "d49bd8282b69fbfde21cfadfb04b432bc295f24ca69db96484752b1c80c459e4"
    f = rng.standard_normal(size=(500, 1, 8, 8)).astype(np.float32)
    assert summary(dataset_leaves((f, y[:500]), "test")) == "c075f7884f00a8eef75ba2b6871ab37779bf2deb59d00bb94656a9ce0f583d57"
    c = rng.integers(0, 256, size=(300, 3, 32, 32), dtype=np.uint8)  # 3,072-byte samples: several chunks each
    leaves = dataset_leaves((torch.from_numpy(c), torch.from_numpy(y[:300].astype(np.int32))), "train", rows=(100, 300))
    assert summary(leaves) == "aeeff17abc46d8a19fc85e58651cf7ba785f0f271d950aa6261ddaab6afd2b11"


def test_state_dict_leaves_equal_those_before_the_native_path(backend):
    g = np.random.default_rng(15)
    state = {"emb": torch.from_numpy(g.standard_normal((300, 64), dtype=np.float32)),
             "w": torch.from_numpy(g.standard_normal((64, 64), dtype=np.float32)).t(),  # not contiguous
             "b": torch.from_numpy(g.standard_normal(64).astype(np.float16)), "s": torch.tensor(3),
             "n": g.integers(-5, 5, size=(7, 3), dtype=np.int16),
             "big": torch.from_numpy(g.standard_normal(1 << 23, dtype=np.float32))}  # >= LARGE: blake3-py, all cores
    assert state["big"].numel() * 4 >= hashing.LARGE > state["emb"].numel() * 4
    expected = "7705f4c5598ea9920c61c3f11fee74540e56a7c2adf4214a3c05645c54722622"
    assert summary(state_dict_leaves(state)) == expected
    assert summary(state_dict_leaves(state, threads=1)) == expected


def test_state_dict_in_several_batches_with_progress(backend, monkeypatch):
    """Batches of STEP bytes, each reported to the progress bar once it is hashed."""
    g = np.random.default_rng(16)
    state = {f"t{i}": g.standard_normal(100 + i, dtype=np.float32) for i in range(9)}
    expected = [Leaf("model.param", k, *hashing.hash_array(v)) for k, v in state.items()]
    monkeypatch.setattr(hashing, "STEP", 1000)
    monkeypatch.setattr(hashing, "_bar", lambda total, desc, **_: _Recorder(total))
    assert state_dict_leaves(state) == expected
    assert _Recorder.last.seen == sum(v.nbytes for v in state.values()) and len(_Recorder.last.steps) >= 3


class _Recorder:
    """A stand-in progress bar that records what it was told."""

    last: _Recorder

    def __init__(self, total):
        self.total, self.steps, self.seen = total, [], 0
        _Recorder.last = self

    def __enter__(self):
        return self.update

    def __exit__(self, *exc):
        return False

    def update(self, n):
        self.steps.append(n)
        self.seen += n


def test_the_one_by_one_dataset_path_batches_the_same_leaves(backend, monkeypatch):
    rng = np.random.default_rng(17)
    x = rng.integers(0, 256, size=(50, 5, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=50, dtype=np.int64)
    expected = dataset_leaves((x, y), "train")
    monkeypatch.setattr(hashing, "_ITEMS", 7)  # several batches, the last one partial
    pairs = [(x[i], int(y[i])) for i in range(50)]
    assert dataset_leaves(pairs, "train") == expected


class RefillingDataset:
    """Hands out views of one buffer it refills for every item, as some loaders do."""

    def __init__(self, x, y):
        self.x, self.y, self.buffer = x, y, np.empty_like(x[0])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        self.buffer[...] = self.x[i]
        return self.buffer, int(self.y[i])


def test_a_dataset_that_refills_one_buffer_hashes_each_sample(backend):
    rng = np.random.default_rng(18)
    x = rng.integers(0, 256, size=(40, 4, 4), dtype=np.uint8)
    y = rng.integers(0, 10, size=40, dtype=np.int64)
    assert dataset_leaves(RefillingDataset(x, y), "train") == dataset_leaves((x, y), "train")


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_backend_is_chosen_by_the_environment():
    code = "from provenance.digests import hasher; print(hasher.BACKEND, hasher.native is None)"
    assert run_python(code, PROVENANCE_BLAKE3_BACKEND="python").stdout.split() == ["python", "True"]
    assert run_python(code, PROVENANCE_BLAKE3_BACKEND="native").stdout.split() == ["native", "False"]
    bad = run_python(code, PROVENANCE_BLAKE3_BACKEND="rust")
    assert bad.returncode != 0
    assert "PROVENANCE_BLAKE3_BACKEND: expected 'native', 'python' or unset, found 'rust'" in bad.stderr
