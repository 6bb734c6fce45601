"""Training overhead of provenance: the same run with provenance off and on, in one process.

    .venv/bin/python bench/training.py [--epochs 10] [--repeats 3]     (or: make bench-training)

Both runs use the same data, seed and code; "on" hashes every sample and tensor, saves and hashes
a checkpoint per epoch, anchors pre/epoch/post roots on the embedded local chain and writes the
record (verification is timed separately, it is not part of training). Prints wall time, the
per-phase breakdown and the overhead. Target: <= 1% of wall time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from provenance.training import TrainOptions, run_training


def timed(options: TrainOptions) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    result = run_training(options)
    return time.perf_counter() - started, result.phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as base:
        timed(TrainOptions(epochs=1, base_dir=base, run_id="warmup"))  # imports, anvil start, contract deploy
        off, on, phases = [], [], []
        for i in range(args.repeats):
            off.append(timed(TrainOptions(epochs=args.epochs, base_dir=base, provenance=False))[0])
            wall, ph = timed(TrainOptions(epochs=args.epochs, base_dir=base, run_id=f"on-{i}", verify=False))
            on.append(wall)
            phases.append(ph)
    off_s, on_s = statistics.median(off), statistics.median(on)
    print(f"digits CNN, {args.epochs} epochs, median of {args.repeats} (2-core CPU)")
    print(f"  provenance off  {off_s:8.3f} s")
    print(f"  provenance on   {on_s:8.3f} s   overhead {on_s - off_s:+.3f} s = {100 * (on_s - off_s) / off_s:+.2f}%  (target <= 1%)")
    print("  per phase (median, provenance on):")
    for key in phases[0]:
        print(f"    {key:<22} {statistics.median(p[key] for p in phases):8.3f} s")


if __name__ == "__main__":
    main()
