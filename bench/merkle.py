"""Merkle tree speed: our fast build beside our reference build and @openzeppelin/merkle-tree,
on the same random values, in one run.

    .venv/bin/python bench/merkle.py            (or: make bench-merkle)
    .venv/bin/python bench/merkle.py --sizes 10000,100000   (a quicker run)

For 10k, 100k and 1M leaves of `("data.sample", "train/NNNNNNN", random digest, random size)`:
- build, leaves/s: ours from columns (`MerkleTree.from_columns`, no `Leaf` objects), ours from
  `Leaf` objects (`MerkleTree.of`, the objects made beforehand), ours on one thread, our reference
  (`merkle.reference.MerkleTree.of`, the readable specification), and @openzeppelin/merkle-tree
  through node, at 10k and 100k only (about 8k leaves/s: minutes at 1M); ours best of 3, the
  others once;
- proof of one leaf (by index; ours also by `Leaf`, hash and lookup included), multiproof of
  1,000 leaves;
- load: `MerkleTree.load` of a dump (the JSON already parsed; every node and value checked),
  ours beside the reference (the reference at 10k and 100k only);
- memory: peak traced by tracemalloc during our build (numpy and the C extension allocate through
  it), the tree it keeps, and the reference's peak (10k, 100k); node's max RSS for OZ;
- the pure-Python twin (`provenance.merkle.pure`, what runs without a C compiler): build from
  columns and load, leaves/s at 10k leaves, beside the C (measured, not a target).
Target: >= 1,000,000 leaves/s at 1M. Every build's root is checked against the others.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import time
import tracemalloc
from pathlib import Path

import numpy as np

from provenance.merkle import pure as _merkle_python
from provenance import merkle
from provenance.merkle import reference
from provenance.merkle import Leaf, MerkleTree, default_threads

ROOT = Path(__file__).resolve().parents[1]
OZ_SCRIPT = ROOT / "bench" / "oz_build.js"
KIND = "data.sample"
OZ_MAX = 100_000
REFERENCE_LOAD_MAX = 100_000
REFERENCE_MEMORY_MAX = 100_000
TWIN_N = 10_000


def values_of(n: int, seed: int = 2026) -> tuple[list[str], bytes, list[int]]:
    rng = np.random.default_rng(seed)
    names = [f"train/{i:07d}" for i in range(n)]
    return names, rng.integers(0, 256, size=(n, 32), dtype=np.uint8).tobytes(), rng.integers(0, 2**32, size=n).tolist()


def best_of(k: int, fn):
    best, result = float("inf"), None
    for _ in range(k):
        gc.collect()
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def traced(fn) -> tuple[int, int, object]:
    """(peak bytes allocated during fn, bytes still held after it, its result)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = fn()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - before, current - before, result


def per_call_us(fn, args: list) -> float:
    t = time.perf_counter()
    for a in args:
        fn(a)
    return (time.perf_counter() - t) / len(args) * 1e6


def oz_build(leaves: list[Leaf], proof_indices: list[int]) -> dict:
    request = json.dumps({"values": [v.to_json() for v in leaves], "proofs": proof_indices})
    done = subprocess.run(["node", str(OZ_SCRIPT)], input=request, capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(done.stdout)


def twin_rates(*cols) -> list[tuple[str, str, str]]:
    """Build from columns and load, leaves/s: the twin (once) beside the backend in use (best of 3),
    as rows of a table; the twin's tree checked against the other's."""
    n = len(cols[1])
    fast_build, tree = best_of(3, lambda: MerkleTree.from_columns(*cols))
    dump = json.loads(json.dumps(tree.dump()))
    fast_load, _ = best_of(3, lambda: MerkleTree.load(dump))
    in_use, merkle.backend.native = merkle.backend.native, _merkle_python
    try:
        twin_build, twin_tree = best_of(1, lambda: MerkleTree.from_columns(*cols))
        twin_load, twin_loaded = best_of(1, lambda: MerkleTree.load(dump))
    finally:
        merkle.backend.native = in_use
    assert twin_tree.root == twin_loaded.root == tree.root and twin_tree.dump() == dump
    return [
        ("pure-Python twin", rate(n, twin_build), rate(n, twin_load)),
        (merkle.BACKEND, rate(n, fast_build), rate(n, fast_load)),
        ("twin slower by", f"{twin_build / fast_build:,.0f}x", f"{twin_load / fast_load:,.0f}x"),
    ]


def rate(n: int, seconds: float | None) -> str:
    return "-" if seconds is None else f"{n / seconds:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated leaf counts")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    threads = default_threads()
    backends = merkle.backend.native.backends()
    print(f"cores used: {threads}; Merkle backend: {merkle.BACKEND}; keccak backend: {backends[0]} (of {', '.join(backends)}); "
          f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    names, digests, sizes_all = values_of(max(sizes))
    rows = []
    for n in sizes:
        print(f"  {n:,} leaves ...", flush=True)
        cols = (KIND, names[:n], digests[: 32 * n], sizes_all[:n])
        r: dict = {"n": n}
        r["cols_s"], tree = best_of(3, lambda: MerkleTree.from_columns(*cols))
        r["one_thread_s"], _ = best_of(3, lambda: MerkleTree.from_columns(*cols, threads=1))
        t = time.perf_counter()
        leaves = [Leaf(KIND, names[i], digests[32 * i : 32 * i + 32], sizes_all[i]) for i in range(n)]
        r["make_leaves_s"] = time.perf_counter() - t
        r["leaves_s"], tree_of_leaves = best_of(3, lambda: MerkleTree.of(leaves))
        r["ref_s"], ref_tree = best_of(1, lambda: reference.MerkleTree.of(leaves))
        assert tree.root == tree_of_leaves.root == ref_tree.root
        rng = random.Random(n)
        indices = [rng.randrange(n) for _ in range(10_000)]
        r["proof_us"] = per_call_us(tree.proof, indices)
        r["proof_leaf_us"] = per_call_us(tree_of_leaves.proof, [leaves[i] for i in indices[:2_000]])
        r["ref_proof_us"] = per_call_us(ref_tree.proof, indices[:2_000])
        chosen = rng.sample(range(n), min(1_000, n))
        r["multi_ms"], mp = best_of(3, lambda: tree.multiproof(chosen))
        r["ref_multi_ms"], ref_mp = best_of(1, lambda: ref_tree.multiproof(chosen))
        assert mp == ref_mp
        r["oz"] = None
        if n <= OZ_MAX:
            r["oz"] = oz_build(leaves, indices[:2_000])
            assert r["oz"]["root"] == "0x" + tree.root.hex()
        dump = tree.dump()
        t = time.perf_counter()
        dump = json.loads(json.dumps(dump))
        r["json_s"] = time.perf_counter() - t
        r["load_s"], loaded = best_of(3, lambda: MerkleTree.load(dump))
        assert loaded.root == tree.root
        r["ref_load_s"] = best_of(1, lambda: reference.MerkleTree.load(dump))[0] if n <= REFERENCE_LOAD_MAX else None
        del dump, loaded, ref_tree, tree_of_leaves
        r["peak"], r["held"], _ = traced(lambda: MerkleTree.from_columns(*cols))
        r["ref_peak"] = None
        if n <= REFERENCE_MEMORY_MAX:
            r["ref_peak"], r["ref_held"], _ = traced(lambda: reference.MerkleTree.of(leaves))
        rows.append(r)
        del leaves, tree

    mb = lambda b: "-" if b is None else f"{b / 2**20:,.1f} MB"  # noqa: E731
    print(f"\nbuild, leaves/s (ours best of 3 on {threads} cores; reference and OZ once; OZ through node, at <= {OZ_MAX:,} only)")
    print(f"  {'leaves':>9}  {'ours, columns':>13}  {'ours, Leafs':>11}  {'ours, 1 thread':>14}  {'reference':>9}  {'OZ (node)':>9}  {'ours/OZ':>7}  {'ours/ref':>8}")
    for r in rows:
        n, oz = r["n"], r["oz"]
        vs_oz = f"{oz['build_s'] / r['cols_s']:.0f}x" if oz else "-"
        print(f"  {n:>9,}  {rate(n, r['cols_s']):>13}  {rate(n, r['leaves_s']):>11}  {rate(n, r['one_thread_s']):>14}  "
              f"{rate(n, r['ref_s']):>9}  {rate(n, oz and oz['build_s']):>9}  {vs_oz:>7}  {r['ref_s'] / r['cols_s']:>7.0f}x")
    print(f"  (making the {rows[-1]['n']:,} Leaf objects themselves took {rows[-1]['make_leaves_s']:.2f} s, not counted above)")
    print("\nproofs (mean over random leaves) and multiproofs of 1,000 leaves")
    print(f"  {'leaves':>9}  {'ours, by index':>14}  {'ours, by Leaf':>13}  {'reference':>9}  {'OZ getProof':>11}  {'ours multi':>10}  {'ref multi':>9}")
    for r in rows:
        oz_proof = f"{r['oz']['proof_us']:.1f} us" if r["oz"] else "-"
        print(f"  {r['n']:>9,}  {r['proof_us']:>11.1f} us  {r['proof_leaf_us']:>10.1f} us  {r['ref_proof_us']:>6.1f} us  "
              f"{oz_proof:>11}  {r['multi_ms'] * 1e3:>7.1f} ms  {r['ref_multi_ms'] * 1e3:>6.1f} ms")
    print("\nload = validate a whole dump (every node and value), leaves/s; JSON parsing not included")
    print(f"  {'leaves':>9}  {'ours':>11}  {'reference':>9}  {'json.loads of the dump':>22}")
    for r in rows:
        print(f"  {r['n']:>9,}  {rate(r['n'], r['load_s']):>11}  {rate(r['n'], r['ref_load_s']):>9}  {r['json_s']:>20.2f} s")
    print("\nmemory (tracemalloc; the input columns excluded)")
    print(f"  {'leaves':>9}  {'ours peak':>10}  {'ours held':>10}  {'reference peak':>14}  {'OZ node max RSS':>15}")
    for r in rows:
        oz_rss = f"{r['oz']['max_rss_mb']:,.0f} MB" if r["oz"] else "-"
        print(f"  {r['n']:>9,}  {mb(r['peak']):>10}  {mb(r['held']):>10}  {mb(r['ref_peak']):>14}  {oz_rss:>15}")
    n = min(TWIN_N, max(sizes))
    print(f"\npure-Python twin (without a C compiler, or PROVENANCE_MERKLE_BACKEND=python), {n:,} leaves, leaves/s")
    print(f"  {'':>16}  {'build':>10}  {'load':>10}")
    for row in twin_rates(KIND, names[:n], digests[: 32 * n], sizes_all[:n]):
        print("  {:>16}  {:>10}  {:>10}".format(*row))
    last = rows[-1]
    speed = last["n"] / last["cols_s"]
    print(f"\ntarget >= 1,000,000 leaves/s at {last['n']:,} leaves: {speed:,.0f} -> {'met' if speed >= 1e6 else 'MISSED'}")


if __name__ == "__main__":
    main()
