"""Training overhead of provenance: the same run with provenance off and on, in one process.

    .venv/bin/python bench/training.py [--epochs 10] [--repeats 3] [--mnist-sized 12000]
    (or: make bench-training)

Both runs use the same data, seed and code; "on" hashes every sample and tensor, saves and hashes
a checkpoint per epoch, anchors pre/epoch/post roots on the embedded local chain and writes the
record (verification is not part of training and is not timed). Two workloads: scikit-learn's
digits (8x8, 1,437 training samples: about 0.1 s an epoch, so fixed costs dominate), and an
MNIST-sized set (28x28, random pixels written as IDX files here) whose epochs take seconds, like
real training. Prints wall time, the per-phase breakdown and the overhead. Target: <= 1%.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from provenance.training import TrainOptions, run_training


def write_mnist_sized(folder: Path, n_train: int, n_test: int) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        (folder / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())
    return folder


def timed(options: TrainOptions) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    result = run_training(options)
    return time.perf_counter() - started, result.phases


def measure(label: str, base: str, epochs: int, repeats: int, mnist_dir: str | None) -> None:
    off, on, phases = [], [], []
    for i in range(repeats):
        off.append(timed(TrainOptions(epochs=epochs, base_dir=base, provenance=False, mnist_dir=mnist_dir))[0])
        wall, ph = timed(TrainOptions(epochs=epochs, base_dir=base, run_id=f"{label}-{i}", verify=False, mnist_dir=mnist_dir))
        on.append(wall)
        phases.append(ph)
    off_s, on_s = statistics.median(off), statistics.median(on)
    print(f"{label}: {epochs} epochs, median of {repeats}")
    print(f"  provenance off  {off_s:8.3f} s")
    print(f"  provenance on   {on_s:8.3f} s   overhead {on_s - off_s:+.3f} s = {100 * (on_s - off_s) / off_s:+.2f}%  (target <= 1%)")
    for key in phases[0]:
        print(f"    {key:<22} {statistics.median(p[key] for p in phases):8.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the digits run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mnist-sized", type=int, default=12000, help="training samples of the MNIST-sized run (0: skip)")
    parser.add_argument("--mnist-epochs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as base:
        timed(TrainOptions(epochs=1, base_dir=base, run_id="warmup"))  # imports, anvil start, contract deploy
        print("2-core CPU; per-phase figures are for the provenance-on run")
        measure("digits", base, args.epochs, args.repeats, None)
        if args.mnist_sized:
            folder = write_mnist_sized(Path(base) / "mnist-sized", args.mnist_sized, args.mnist_sized // 6)
            measure(f"mnist-sized ({args.mnist_sized} x 28x28)", base, args.mnist_epochs, args.repeats, str(folder))


if __name__ == "__main__":
    main()
