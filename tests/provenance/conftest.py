"""Fixtures for the package tests: a trained run on the embedded local chain, made once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from provenance.training import TrainOptions, run_training


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One epoch of the digits CNN with provenance before, per epoch and after, anchored on the
    local anvil. Tests copy it before tampering."""
    base = tmp_path_factory.mktemp("runs")
    result = run_training(TrainOptions(epochs=1, base_dir=str(base), run_id="digits-e2e"))
    assert result.verification and result.verification["ok"], result.verification
    return result


@pytest.fixture
def idx_dataset(tmp_path) -> Path:
    """A small dataset in MNIST's IDX format (64 train, 16 test images of 28x28), written here."""
    import struct

    import numpy as np

    rng = np.random.default_rng(7)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split, n in (("train", 64), ("t10k", 16)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        (folder / f"{split}-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03" + struct.pack(">3I", n, 28, 28) + images.tobytes())
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01" + struct.pack(">I", n) + labels.tobytes())
    return folder


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    """A private copy of the trained run folder, free to tamper with."""
    return Path(shutil.copytree(trained_run.run_dir, tmp_path / trained_run.run_dir.name))
