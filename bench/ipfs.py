"""Time to anchor (add + pin) and to verify a 100 KiB provenance record on the embedded js-ipfs
node, median of 20, beside a raw `POST /api/v0/add` (and a raw `cat`) of the same-sized bytes
measured in the same run on the same node.

    .venv/bin/python bench/ipfs.py            (or: make bench-ipfs)

`IpfsAnchor.anchor` does more than the raw add: it computes the CID locally, writes the record
to the local store (atomic write + fsync), sends `add` with pin=false, compares the CIDs, then
`pin/add`. The raw add is one request with the same CID options and the node's default pin=true.
`verify` is `cat` + re-hash + parse the record (its 64 leaves included) + find the root. Every iteration uses fresh bytes
so no measurement is served from blocks the node already holds.
"""

from __future__ import annotations

import hashlib
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import httpx

from provenance.record.receipts import AnchorState
from provenance.anchors.ipfs.backend import IpfsAnchor
from provenance.anchors.ipfs.node import IpfsNode
from provenance.merkle import Leaf
from provenance.record import Record, Stage

SIZE = 100 * 1024
RUNS, WARMUP = 20, 2
RAW_PARAMS = {"cid-version": "1", "raw-leaves": "true", "hash": "sha2-256", "cid-base": "base32"}


def record(label: str) -> tuple[bytes, bytes]:
    """A run's `pre` snapshot (what the tracker anchors) of exactly SIZE bytes, and its root."""
    leaves = [Leaf("data.sample", f"train/{i:06d}", hashlib.sha256(f"{label} {i}".encode()).digest(), 64) for i in range(64)]
    stage = Stage.build("pre", leaves, None, "2026-11-26T00:00:00+00:00")
    run = Record(run_id=label, canonicalization="bench", config={"padding": ""}, stages=[stage])
    run.config["padding"] = "x" * (SIZE - len(run.snapshot_bytes("pre")))
    data = run.snapshot_bytes("pre")
    assert len(data) == SIZE
    return stage.root, data


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ipfs-") as tmp:
        node = IpfsNode(Path(tmp) / "repo", free_port())
        print(f"starting js-ipfs on {node.url} ...", flush=True)
        node.start()
        try:
            anchor = IpfsAnchor(node.url, store=Path(tmp) / "store")
            raw = httpx.Client(timeout=30)
            ours = [record(f"ours {i}") for i in range(WARMUP + RUNS)]
            baseline = [record(f"raw {i}") for i in range(WARMUP + RUNS)]
            t_raw_add, t_anchor, t_raw_cat, t_verify = [], [], [], []
            receipts = []
            for (root, data), (_, other) in zip(ours, baseline):
                def raw_add() -> None:
                    answer = raw.post(f"{node.url}/api/v0/add", params=RAW_PARAMS, files={"file": ("r", other, "application/octet-stream")})
                    answer.raise_for_status()
                t_raw_add.append(timed(raw_add))
                t_anchor.append(timed(lambda: receipts.append(anchor.anchor(root, data))))
            assert all(r.state is AnchorState.CONFIRMED for r in receipts)
            for (root, data), receipt in zip(ours, receipts):
                cid = receipt.location["cid"]

                def raw_cat() -> None:
                    answer = raw.post(f"{node.url}/api/v0/cat", params={"arg": cid})
                    assert answer.content == data
                t_raw_cat.append(timed(raw_cat))
                verdicts = []
                t_verify.append(timed(lambda: verdicts.append(anchor.verify(receipt, root))))
                assert verdicts[0].ok, verdicts[0].detail
        finally:
            node.stop()

    def row(label: str, samples: list[float]) -> None:
        kept = samples[WARMUP:]
        print(f"  {label:<52} median {statistics.median(kept) * 1e3:7.2f} ms   "
              f"min {min(kept) * 1e3:7.2f}   max {max(kept) * 1e3:7.2f}")

    print(f"100 KiB record ({SIZE:,} bytes), js-ipfs 0.18.1 (npm ipfs@0.66.1), median of {RUNS} after {WARMUP} warm-up")
    row("baseline: raw POST /api/v0/add (pin=true)", t_raw_add)
    row("IpfsAnchor.anchor: local CID + store + add + pin/add", t_anchor)
    row("baseline: raw POST /api/v0/cat", t_raw_cat)
    row("IpfsAnchor.verify: cat + re-hash + parse + root", t_verify)
    ratio = statistics.median(t_anchor[WARMUP:]) / statistics.median(t_raw_add[WARMUP:])
    print(f"  anchor / raw add: {ratio:.2f}x")


if __name__ == "__main__":
    main()
