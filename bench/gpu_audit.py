"""Tolerance mode on a GPU: the normalised distance of honest replays against forged segments.

    .venv/bin/python bench/gpu_audit.py                      # needs CUDA
    .venv/bin/python bench/gpu_audit.py --allow-cpu --small  # a smoke run anywhere

The audit's tolerance mode (`provenance.training.audit`) compares a replayed segment with the
committed end state by d = ||W_replayed - W_end|| / ||W_end - W_start||. This trains our step
(`variants.Plain.steps`: SmallCNN, Adam) on the device in segments of `--steps` steps, keeping
each state (weights, Adam state, RNG) as the audit trail does, then replays every segment on the
same device from its start state (nondeterministic cuDNN kernels allowed, as in real GPU
training) and prints d for:

- honest: the replay of the segment that was trained;
- interpolated: the end state replaced by the midpoint of its neighbours (a skipped segment);
- other data: the segment trained with 1 % of its samples replaced, replayed on the committed ones;
- perturbed: the end weights nudged by Gaussian noise of 1e-3 of the segment's update.

The gap between the honest maximum and the forged minimum is the room a tolerance has; the
printed suggestion is the geometric mean of the two. On a lent GPU machine, carry nothing: it
needs only torch and numpy, and the package itself (no C extension, no network).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch

from provenance.training.audit import _distance
from provenance.training.model import SmallCNN
from provenance.training.variants import Plain


def state(model, optimizer):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, copy.deepcopy(optimizer.state_dict())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--small", action="store_true", help="2,000 samples, 4 segments of 10 steps")
    parser.add_argument("--allow-cpu", action="store_true")
    args = parser.parse_args()
    if args.small:
        args.samples, args.segments, args.steps = 2000, 4, 10
    if not torch.cuda.is_available() and not args.allow_cpu:
        raise SystemExit("bench/gpu_audit.py: expected a CUDA device, found none (--allow-cpu for a smoke run)")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}, torch {torch.__version__}, "
          f"{args.samples} samples 28x28, {args.segments} segments of {args.steps} steps, batch {args.batch_size}")
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((args.samples, 1, 28, 28), dtype=np.float32)).to(device)
    y = torch.from_numpy(rng.integers(0, 10, args.samples)).to(device)
    torch.manual_seed(0)
    model = SmallCNN().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    per = args.steps * args.batch_size
    orders = [torch.randperm(args.samples, generator=torch.Generator().manual_seed(i))[:per].to(device) for i in range(args.segments)]
    states = [state(model, optimizer)]
    started = time.perf_counter()
    for order in orders:
        Plain(model, optimizer, x, y, None, args.batch_size).steps(order)
        states.append(state(model, optimizer))
    train_s = time.perf_counter() - started

    def replay(start, order, features=x):
        m = SmallCNN().to(device)
        m.load_state_dict(start[0])
        o = torch.optim.Adam(m.parameters(), lr=1e-3)
        o.load_state_dict(start[1])
        Plain(m, o, features, y, None, args.batch_size).steps(order)
        return {k: v.detach().cpu() for k, v in m.state_dict().items()}

    cpu = lambda s: {k: v.detach().cpu() for k, v in s[0].items()}
    found: dict[str, list[float]] = {"honest": [], "interpolated": [], "other data": [], "perturbed": []}
    started = time.perf_counter()
    for i, order in enumerate(orders):
        start, end = cpu(states[i]), cpu(states[i + 1])
        replayed = replay(states[i], order)
        found["honest"].append(_distance(replayed, end, start))
        if i + 2 < len(states):
            mid = {k: (start[k] + cpu(states[i + 2])[k]) / 2 for k in start}
            found["interpolated"].append(_distance(replayed, mid, start))
        poisoned = x.clone()
        swap = order[: max(1, len(order) // 100)]
        poisoned[swap] = x[swap.flip(0)]
        forged = replay(states[i], order, poisoned)
        found["other data"].append(_distance(replayed, forged, start))
        nudged = {k: v + torch.randn_like(v) * 1e-3 * (v - start[k]).norm() / max(v.numel(), 1) ** 0.5
                  if v.is_floating_point() else v for k, v in end.items()}
        found["perturbed"].append(_distance(replayed, nudged, start))
    audit_s = time.perf_counter() - started
    for name, values in found.items():
        if values:
            print(f"  {name:<13} d: min {min(values):.3g}  median {statistics.median(values):.3g}  max {max(values):.3g}")
    forged_min = min(v for k, vs in found.items() if k != "honest" for v in vs)
    honest_max = max(found["honest"])
    print(f"honest max {honest_max:.3g}, forged min {forged_min:.3g}: a tolerance of "
          f"{(max(honest_max, 1e-12) * forged_min) ** 0.5:.3g} separates them" if honest_max < forged_min
          else f"honest max {honest_max:.3g} >= forged min {forged_min:.3g}: no tolerance separates them")
    print(f"training {train_s:.2f} s, replay of every segment (and its forgeries) {audit_s:.2f} s")


if __name__ == "__main__":
    main()
