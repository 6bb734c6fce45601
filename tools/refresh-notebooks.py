"""Re-execute the notebooks in place so their committed outputs (plots included) are current:

    .venv/bin/python tools/refresh-notebooks.py [notebooks/provenance_walkthrough.ipynb ...]

Each runs as `make test` runs it (nbmake): a kernel from this venv, a throwaway data folder and
local-chain port, so no output names this machine's folders and nothing of yours is touched. Cell
timings are not kept (they would change on every run for nothing). `make test` executes the
notebooks without writing them back; this script is the one that writes.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def refresh(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=1800, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tempfile.mkdtemp(prefix="provenance-notebooks-")
    os.environ["PROVENANCE_HOME"] = home  # the kernels inherit both
    os.environ["PROVENANCE_LOCAL_CHAIN_PORT"] = str(port)
    try:
        for path in paths:
            refresh(path)
            print(f"refreshed {path}")
    finally:
        from provenance.anchors.ethereum import node as localchain

        localchain.stop()  # the anvil the notebooks started, under the throwaway home
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
