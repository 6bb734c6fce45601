"""Hashing a GPU checkpoint against one training step: plain `.cpu()` per tensor + hash beside
the pinned, overlapped pipeline (`provenance.digests.staging`), measured in one run on one GPU.

    .venv/bin/python bench/gpu_checkpoint.py                      # needs CUDA
    .venv/bin/python bench/gpu_checkpoint.py --small --allow-cpu  # a smoke run anywhere

The model is issue 8's: 16 x Linear(8192, 8192) in bf16 (1.07B parameters, a 2.15 GB state
dict), AdamW, batch 8192. Target: hashing the checkpoint costs <= 0.5 of one training step. The
pipeline's digests are checked against the plain approach's (CPU copies hashed on the host), so
a run on a GPU is also the test that CUDA tensors hash like CPU tensors.

On a lent GPU machine (no network there, its python3 holds a CUDA torch): fetch the wheels this
needs beside torch, numpy and tqdm with `bash bench/gpu_wheels.sh` here, then run there, carrying
`bench/results/wheels`: `python3 -m pip install -q --no-index --no-deps --target /tmp/site
bench/results/wheels/*.whl && PYTHONPATH=/tmp/site:. python3 bench/gpu_checkpoint.py`. The
package's C extensions, built here for another Python, do not load there: the GPU path hashes
with blake3-py anyway (`provenance.digests.staging`), and the header line says which backends ran.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable

import torch
from torch import nn

from provenance import merkle
from provenance.digests import hasher, staging
from provenance.digests.hashing import hash_tensor, state_dict_leaves


def timed(fn: Callable[[], object], repeat: int, sync: Callable[[], None]) -> tuple[float, object]:
    """Median wall time of `repeat` calls (after one warm-up call) and the last result."""
    result = fn()
    sync()
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        result = fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="4 x Linear(256, 256), batch 64: a smoke run")
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU when no CUDA device exists")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions of each measurement (median)")
    parser.add_argument("--chunk-mib", type=int, nargs="*", default=[16, 128],
                        help="extra pipeline chunk sizes to compare with the default (MiB)")
    args = parser.parse_args()

    if torch.cuda.is_available():
        device = torch.device("cuda")
        where = torch.cuda.get_device_name(device)
        sync = torch.cuda.synchronize
    elif args.allow_cpu:
        device, where, sync = torch.device("cpu"), "CPU (no CUDA device; --allow-cpu)", lambda: None
    else:
        print("error: expected a CUDA device, found none (torch.cuda.is_available() is False); this benchmark "
              "measures GPU checkpoints, pass --allow-cpu for a CPU smoke run", file=sys.stderr)
        return 2

    layers, width, batch = (4, 256, 64) if args.small else (16, 8192, 8192)
    torch.manual_seed(0)
    model = nn.Sequential(*(nn.Linear(width, width) for _ in range(layers))).to(device=device, dtype=torch.bfloat16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, width, device=device, dtype=torch.bfloat16)
    target = torch.randn(batch, width, device=device, dtype=torch.bfloat16)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.mse_loss(model(x).float(), target.float()).backward()
        optimizer.step()

    state = model.state_dict()
    params = sum(t.numel() for t in state.values())
    nbytes = sum(t.numel() * t.element_size() for t in state.values())

    def plain() -> list[tuple[bytes, int]]:
        return [hash_tensor(t.cpu()) for t in state.values()]

    def plain_copies() -> list[torch.Tensor]:
        return [t.cpu() for t in state.values()]

    def ours() -> list[tuple[bytes, int]]:
        return [(leaf.digest, leaf.size) for leaf in state_dict_leaves(state)]

    print(f"device: {where}; torch {torch.__version__}; {os.cpu_count()} CPU threads; "
          f"many-input blake3: {hasher.BACKEND}, merkle: {merkle.BACKEND}")
    print(f"model: {layers} x Linear({width}, {width}) bf16, {params:,} parameters, state dict "
          f"{nbytes / 1e9:.3f} GB, {len(state)} tensors; AdamW, batch {batch}; median of {args.repeat}", flush=True)
    step_s, _ = timed(step, args.repeat, sync)
    copies_s, copies = timed(plain_copies, args.repeat, sync)
    host_hash_s, _ = timed(lambda: [hash_tensor(t) for t in copies], args.repeat, sync)  # type: ignore[union-attr]
    del copies
    plain_s, plain_digests = timed(plain, args.repeat, sync)
    ours_s, our_digests = timed(ours, args.repeat, sync)
    equal = plain_digests == our_digests

    print(f"one training step: {step_s:.4f} s")
    print(f"  {'checkpoint hashing':<52} {'seconds':>8} {'GB/s':>7} {'/ step':>7}")

    def row(name: str, seconds: float) -> None:
        print(f"  {name:<52} {seconds:>8.4f} {nbytes / seconds / 1e9:>7.1f} {seconds / step_s:>7.2f}")

    row("plain: .cpu() per tensor, then hash_tensor", plain_s)
    row("  of which .cpu() copies alone", copies_s)
    row("  of which hashing host copies alone (all cores)", host_hash_s)
    how = "pinned, overlapped" if device.type == "cuda" else "host tensors hashed in place"
    row(f"ours: state_dict_leaves ({how})", ours_s)
    # The staging pipeline at other chunk sizes (on the CPU: its thread copier, as the tests drive it).
    tensors = list(state.values())
    for mib in args.chunk_mib:
        stager = staging.stager_for(device, mib << 20)
        seconds, digests = timed(lambda: stager.hash_tensors(tensors), args.repeat, sync)
        equal = equal and digests == plain_digests
        row(f"  pipeline with {mib} MiB chunks", seconds)
    print(f"  (default pipeline: {staging.DEFAULT_CHUNK_BYTES >> 20} MiB chunks, {staging.DEFAULT_DEPTH} buffers)")
    verdict = "met" if ours_s <= 0.5 * step_s else "MISSED"
    print(f"ratio hashing / step: plain {plain_s / step_s:.2f}, ours {ours_s / step_s:.2f}; "
          f"target ours <= 0.5: {verdict}; speed-up over plain {plain_s / ours_s:.1f}x")
    print(f"digests equal to the plain CPU-copy digests: {'yes' if equal else 'NO'} ({len(state)} tensors)")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
