"""The original system's training script, `python3 src/ml_provenance/training/train.py`: here our
own `provenance train` (a small CNN with provenance: hashed, anchored before, per epoch and after,
verified). Its options pass through (`--epochs 5`, `--batch-size 32`, `--help`)."""

import sys

from provenance.cli import run

if __name__ == "__main__":
    sys.argv = ["provenance", "train", *sys.argv[1:]]
    run()
