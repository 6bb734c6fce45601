"""The original system's `python3 scripts/demo_blockchain_provenance.py`: here `make demo`'s two
commands, run as they are (`provenance train --epochs 3`, then `provenance verify latest`).

    python3 scripts/demo_blockchain_provenance.py [provenance train options, e.g. --epochs 1]

Also `ape run demo_blockchain_provenance`. Exits with the first failing command's status.
"""

from __future__ import annotations

import subprocess
import sys


def main(argv: list[str] | None = None) -> None:
    args = list(argv or [])  # `ape run` calls main() with none: the demo's defaults
    train = [sys.executable, "-m", "provenance.cli", "train", *(args or ["--epochs", "3"])]
    shared = [part for option in ("--base-dir", "--config") if option in args
              for part in args[args.index(option):args.index(option) + 2]]  # where the run is, and how to reach its networks
    verify = [sys.executable, "-m", "provenance.cli", "verify", "latest", "--brief", *shared]
    for command in (train, verify):
        print("$ provenance " + " ".join(command[3:]), flush=True)
        code = subprocess.run(command).returncode
        if code:
            raise SystemExit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
