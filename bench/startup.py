"""Start-up of the commands people run most, beside the imports they cannot do without.

    .venv/bin/python bench/startup.py [--repeats 5] [--run RUN]
    (or: make bench-startup)

Each command runs in a fresh interpreter, `--repeats` times, interleaved with its baseline, and
the medians are printed with their ratio:

- `provenance verify RUN --brief` (the demo run: digits, 3 epochs; trained here first, on the
  embedded chain, unless `--run` names one) against `python -c "import web3, blake3"`: what any
  verifier must load to check anchors and re-hash (target <= 2x);
- `provenance --help` against `python -c "import click"` (target <= 3x);
- `provenance status` against `import web3, blake3` too: it asks the chain, so web3 is its floor
  (no target; it must not load torch or scikit-learn, which `tests/provenance/test_imports.py`
  checks).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable
ENTRY = Path(PYTHON).with_name("provenance")
PROVENANCE = [str(ENTRY)] if ENTRY.is_file() else [PYTHON, "-m", "provenance.cli"]


def seconds(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return elapsed


def compare(label: str, command: list[str], baseline: list[str], repeats: int, target: float | None) -> None:
    ours, base = [], []
    for _ in range(repeats):
        base.append(seconds(baseline))
        ours.append(seconds(command))
    a, b = statistics.median(ours), statistics.median(base)
    goal = f" (target <= {target:g}x)" if target else ""
    print(f"{label:<28} {a:7.3f} s   baseline {b:7.3f} s ({' '.join(baseline[1:])})   ratio {a / b:5.2f}x{goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run", help="a run folder to verify (default: train the demo run in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as base:
        run = args.run
        if run is None:
            subprocess.run([*PROVENANCE, "train", "--epochs", "3", "--base-dir", base, "--run-id", "demo"], check=True,
                           capture_output=True)
            run = os.path.join(base, "demo")
        print(f"median of {args.repeats} fresh processes each, interleaved with the baseline")
        compare("provenance verify RUN --brief", [*PROVENANCE, "verify", run, "--brief"],
                [PYTHON, "-c", "import web3, blake3"], args.repeats, 2)
        compare("provenance --help", [*PROVENANCE, "--help"], [PYTHON, "-c", "import click"], args.repeats, 3)
        compare("provenance status", [*PROVENANCE, "status"], [PYTHON, "-c", "import web3, blake3"], args.repeats, None)


if __name__ == "__main__":
    main()
