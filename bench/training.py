"""Training overhead of provenance: the same run with provenance off and on, alternating, in one process.

    .venv/bin/python bench/training.py [--pairs 5] [--epochs 10] [--mnist-sized 12000] [--mnist-epochs 3]
    (or: make bench-training)

Both runs use the same data, seed and code; "on" hashes every sample and tensor, saves and hashes
a checkpoint per epoch, anchors pre/epoch/post roots on the embedded local chain and writes the
record (verification is not part of training and is not timed). Two workloads: scikit-learn's
digits (8x8, 1,437 training samples, 10 epochs: fixed costs dominate; target <= 10%), and an
MNIST-sized set (28x28, random pixels written as IDX files here, 3 epochs) whose epochs take
seconds, like real training (target <= 1%). Off and on runs alternate (`--pairs` of each), so a
machine shared with other jobs slows both alike; printed are the medians of wall time and of
process CPU time (every thread of this process: training, and provenance's background threads;
the local chain is another process and is not counted), their overhead as a ratio, and the
on-runs' phases. `--background-nice N` runs the background threads at niceness N (default 19;
0 compares with the training threads' own priority).
"""

from __future__ import annotations

import argparse
import statistics
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from provenance import anchoring
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


def timed(options: TrainOptions) -> tuple[float, float, dict[str, float]]:
    """Wall and process CPU seconds of one run, and its phases (with the count of Ethereum
    transactions the run's anchors took: epochs the background was behind on share one)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_training(options)
    elapsed = time.perf_counter() - wall, time.process_time() - cpu
    tx = {r["location"].get("tx_hash") for key, r in result.receipts.items() if key.endswith("/ethereum")}
    return *elapsed, result.phases | ({"ethereum_transactions": float(len(tx))} if tx else {})


def measure(label: str, base: str, epochs: int, pairs: int, mnist_dir: str | None, target: float) -> dict[str, float]:
    runs: dict[str, list[tuple[float, float, dict[str, float]]]] = {"off": [], "on": []}
    for i in range(pairs):
        runs["off"].append(timed(TrainOptions(epochs=epochs, base_dir=base, provenance=False, mnist_dir=mnist_dir)))
        runs["on"].append(timed(TrainOptions(epochs=epochs, base_dir=base, run_id=f"{label.split()[0]}-{i}", verify=False,
                                             mnist_dir=mnist_dir)))
    median = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in runs.items()}
    (off_wall, off_cpu), (on_wall, on_cpu) = median["off"], median["on"]
    print(f"{label}: {epochs} epochs, median of {pairs} alternating pairs (target: overhead <= {target:.0%})")
    print(f"  provenance off  wall {off_wall:8.3f} s   cpu {off_cpu:8.3f} s")
    print(f"  provenance on   wall {on_wall:8.3f} s   cpu {on_cpu:8.3f} s")
    print(f"  overhead        wall {on_wall / off_wall - 1:+8.2%}     cpu {on_cpu / off_cpu - 1:+8.2%}   "
          f"(on/off: wall {on_wall / off_wall:.4f}, cpu {on_cpu / off_cpu:.4f})")
    train = {k: statistics.median(r[2]["train_s"] for r in v) for k, v in runs.items()}
    print(f"    training loop alone    off {train['off']:8.3f} s   on {train['on']:8.3f} s   ({train['on'] / train['off'] - 1:+.2%}: "
          "what the background threads take from it)")
    for key in runs["on"][0][2]:
        if key == "ethereum_transactions":
            counts = sorted(int(r[2][key]) for r in runs["on"])
            print(f"    {'ethereum transactions':<22} {counts[len(counts) // 2]:8d}     per run (min {counts[0]}, max {counts[-1]}; "
                  f"{epochs + 2} roots anchored)")
        elif key != "train_s":
            print(f"    {key:<22} {statistics.median(r[2][key] for r in runs['on']):8.3f} s")
    return {"wall": on_wall / off_wall, "cpu": on_cpu / off_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="off/on pairs per workload (>= 5 for the README)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the digits run")
    parser.add_argument("--mnist-sized", type=int, default=12000, help="training samples of the MNIST-sized run (0: skip)")
    parser.add_argument("--mnist-epochs", type=int, default=3)
    parser.add_argument("--background-nice", type=int, default=anchoring.BACKGROUND_NICE,
                        help="niceness of provenance's background threads (0: the training threads' own)")
    parser.add_argument("--skip-digits", action="store_true")
    args = parser.parse_args()
    anchoring.BACKGROUND_NICE = args.background_nice
    with tempfile.TemporaryDirectory() as base:
        timed(TrainOptions(epochs=1, base_dir=base, run_id="warmup"))  # imports, anvil start, contract deploy
        print(f"background threads at nice {args.background_nice}; per-phase figures are the provenance-on runs'")
        if not args.skip_digits:
            measure("digits", base, args.epochs, args.pairs, None, 0.10)
        if args.mnist_sized:
            folder = write_mnist_sized(Path(base) / "mnist-sized", args.mnist_sized, args.mnist_sized // 6)
            measure(f"mnist-sized ({args.mnist_sized} x 28x28)", base, args.mnist_epochs, args.pairs, str(folder), 0.01)


if __name__ == "__main__":
    main()
