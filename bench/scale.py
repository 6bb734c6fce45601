"""Sharded hashing throughput: the in-process engine beside Dask with 1 and 2 worker processes.

    .venv/bin/python bench/scale.py               (or: make bench-scale)
    .venv/bin/python bench/scale.py --samples 50000 --shards 5   (a quicker run)

The set: N MNIST-sized samples (1 x 28 x 28 uint8 image, int64 label; canonical bytes 784 + 31 +
8 + 7 per sample, leaf size 784) in S equal shards, written as webdataset-style `.tar` shards
(one `.bin` member per sample, the image bytes) to a temporary folder, so workers read from
disk as they would from storage, and also hashed as in-memory `arrays` shards. For each source:
wall time of `engines.hash_dataset` (every shard's samples hashed and its tree built, then the
run tree of one `data.shard` leaf per shard), samples/s and bytes/s, for `local` (this process),
`dask` with 1 worker process and with 2 (a `LocalCluster`, one thread per worker; cluster start-up
not counted, one warm-up shard first). Every engine's root is checked equal to the local one.
The coordinator's peak traced memory (tracemalloc, this process only, in a second run: tracing
slows the traced process) is printed for the Dask runs: it holds one result per shard (and, for
in-memory arrays, the slices it sends); and, first, its memory for 585,000 shard results and their run tree
(LAION-5B's 5.85B samples in shards of 10,000), built from random roots. Figures depend on the machine; the README quotes one run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from provenance.digests.engines import DaskEngine, LocalEngine, hash_dataset
from provenance.digests.shards import array_shards, discover


def write_tars(folder: Path, images: np.ndarray, shards: int) -> None:
    per = len(images) // shards
    for s in range(shards):
        with tarfile.open(folder / f"{s:06d}.tar", "w") as tar:
            for i in range(s * per, (s + 1) * per):
                data = images[i].tobytes()
                info = tarfile.TarInfo(f"{i:09d}.bin")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def measure(name: str, refs, engine) -> dict:
    hash_dataset(refs[:1], engine)  # warm-up: imports and first task on every engine
    started = time.perf_counter()
    result = hash_dataset(refs, engine)
    seconds = time.perf_counter() - started
    row = {"engine": name, "root": "0x" + result.root.hex(), "shards": len(result.shards), "samples": result.samples,
           "bytes": result.nbytes, "seconds": round(seconds, 2), "samples_per_s": round(result.samples / seconds),
           "mb_per_s": round(result.nbytes / seconds / 1e6, 1), "coordinator_peak_mib": None}
    if name != "local":  # a second, traced run (tracing slows the process it traces, so never the timed one)
        tracemalloc.start()
        hash_dataset(refs, engine)
        row["coordinator_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
        tracemalloc.stop()
    return row


def coordinator_memory(shards: int) -> dict:
    """What the coordinator holds for `shards` shards: one `ShardResult` each (random roots, ids
    like a webdataset's) and the run tree of their `data.shard` leaves, peak traced memory."""
    from provenance.merkle import MerkleTree
    from provenance.digests.shards import ShardResult

    rng = np.random.default_rng(1)
    roots = rng.integers(0, 256, size=(shards, 32), dtype=np.uint8)
    tracemalloc.start()
    started = time.perf_counter()
    results = [ShardResult(f"{k:06d}.tar", roots[k].tobytes(), 10_000, 400_000_000) for k in range(shards)]
    held, _ = tracemalloc.get_traced_memory()
    tree = MerkleTree.of([r.leaf for r in results])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"shards": shards, "results_mib": round(held / 2**20, 1), "peak_with_tree_mib": round(peak / 2**20, 1),
            "seconds": round(time.perf_counter() - started, 2), "root": "0x" + tree.root.hex()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--coordinator-shards", type=int, default=585_000,
                        help="Also measure the coordinator's memory for this many shards (LAION-5B in 10k-sample shards).")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(args.samples, 1, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=args.samples, dtype=np.int64)
    from distributed import Client, LocalCluster

    if args.coordinator_shards:
        memory = coordinator_memory(args.coordinator_shards)
        print(json.dumps(memory) if args.json else
              f"coordinator for {memory['shards']:,} shards: results {memory['results_mib']} MiB, peak with the run tree "
              f"{memory['peak_with_tree_mib']} MiB, {memory['seconds']} s", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        write_tars(folder, images, args.shards)
        print(f"# wrote {args.shards} tar shards of {args.samples // args.shards} samples in {time.perf_counter() - t:.1f} s "
              f"({os.cpu_count()} cores)", flush=True)
        sources = {"tar": discover(folder)[1], "arrays": array_shards(images, labels, "train", args.samples // args.shards)}
        for source, refs in sources.items():
            local = measure("local", refs, LocalEngine())
            runs = [local]
            for workers in (1, 2):
                with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
                        Client(cluster) as client:
                    runs.append(measure(f"dask x{workers}", refs, DaskEngine(client=client)))
            for r in runs:
                assert r["root"] == local["root"], (source, r)
                r["source"] = source
                rows.append(r)
                print(json.dumps(r) if args.json else
                      f"{source:7} {r['engine']:8} {r['shards']:4} shards {r['samples']:>9,} samples {r['seconds']:7.2f} s "
                      f"{r['samples_per_s']:>9,} samples/s {r['mb_per_s']:7.1f} MB/s  coordinator peak {r['coordinator_peak_mib'] if r['coordinator_peak_mib'] is not None else '-'} MiB",
                      flush=True)


if __name__ == "__main__":
    main()
