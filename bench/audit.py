"""Proof of training, measured: what committing the replay material costs the trainer, and what
an audit costs per segment beside what that segment cost to train, in one run on one machine.

    .venv/bin/python bench/audit.py [--pairs 3] [--epochs 3] [--mnist-sized 6000] [--audit-every 0]
    (or: make bench-audit)

1. Commit overhead: the same provenance run with the audit trail off and on (`TrainOptions.audit`),
   alternating (`--pairs` of each) so a shared machine slows both alike; anchoring is off in both
   (it is the same in both and only adds noise). Printed: medians of the training phase and of
   the whole run's wall time, and the trail's own time (`audit_trail_s`: state files, epoch files,
   their hashes) as a share of training time. Workloads: scikit-learn's digits and an MNIST-sized
   set (28x28 random pixels written as IDX files here), whose epochs take seconds like real training.
2. Audit cost: one run anchored on the embedded local chain, then `audit_run` over every segment:
   per segment, replay seconds beside training seconds per segment (training time / segments),
   and the audit's fixed part (verification, loading, structure checks).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from training import write_mnist_sized  # bench/training.py, beside this file

from provenance.training import TrainOptions, run_training
from provenance.training.audit import audit_run

NO_ANCHORS = {"blockchain": {"enabled": False}, "storage_options": {"store_epoch_checkpoints": True}}


def overhead(label: str, base: str, epochs: int, pairs: int, mnist_dir: str | None, every: int | None) -> None:
    runs: dict[bool, list[tuple[float, dict]]] = {False: [], True: []}
    for i in range(pairs):
        for audit in (False, True):
            started = time.perf_counter()
            result = run_training(TrainOptions(epochs=epochs, base_dir=base, config=NO_ANCHORS, verify=False, mnist_dir=mnist_dir,
                                               audit=audit, audit_every=every if audit else None, run_id=f"{label}-{audit}-{i}"))
            import json

            timings = json.loads((result.run_dir / "record.json").read_text())["timings"]
            runs[audit].append((time.perf_counter() - started, result.phases | timings))
    med = {a: (statistics.median(w for w, _ in runs[a]), statistics.median(p["train_s"] for _, p in runs[a])) for a in runs}
    trail = statistics.median(p.get("audit_trail_s", 0.0) for _, p in runs[True])
    stored = sum(f.stat().st_size for f in (Path(base) / f"{label}-True-0" / "audit").iterdir())
    print(f"{label}: {epochs} epochs, {pairs} pairs; medians: training {med[False][1]:.3f} s off / {med[True][1]:.3f} s on "
          f"(+{(med[True][1] / med[False][1] - 1) * 100:.2f} %), whole run {med[False][0]:.3f} s off / {med[True][0]:.3f} s on "
          f"(+{(med[True][0] / med[False][0] - 1) * 100:.2f} %); audit trail {trail * 1000:.1f} ms = "
          f"{trail / med[True][1] * 100:.2f} % of training; stored {stored / 1e6:.2f} MB in audit/")


def audit_cost(label: str, base: str, epochs: int, mnist_dir: str | None, every: int | None) -> None:
    result = run_training(TrainOptions(epochs=epochs, base_dir=base, mnist_dir=mnist_dir, audit_every=every, run_id=f"{label}-audited"))
    assert result.verification and result.verification["ok"], "the run to audit must verify"
    started = time.perf_counter()
    report = audit_run(result.run_dir, segments=10_000, seed=0)
    total = time.perf_counter() - started
    assert report.verdict == "AUDITED", report.detail
    replays = [r.seconds for r in report.results]
    per_segment_training = result.phases["train_s"] / report.segments_total
    print(f"{label}: {report.segments_total} segments; replay per segment median {statistics.median(replays):.3f} s "
          f"(first {replays[0]:.3f} s, warm-up included) vs training per segment {per_segment_training:.3f} s "
          f"(ratio {statistics.median(replays) / per_segment_training:.2f}); audit of all {total:.2f} s, of which fixed "
          f"(verify, load, checks) {total - sum(replays):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--mnist-sized", type=int, default=6000, help="training samples of the MNIST-sized set (0: skip it)")
    parser.add_argument("--audit-every", type=int, default=0, help="a state every N steps inside an epoch (0: one per epoch)")
    args = parser.parse_args()
    every = args.audit_every or None
    with tempfile.TemporaryDirectory() as tmp:
        mnist = str(write_mnist_sized(Path(tmp) / "mnist", args.mnist_sized, 1000)) if args.mnist_sized else None
        for label, data in (("digits", None), ("mnist-sized", mnist)):
            if label == "mnist-sized" and mnist is None:
                continue
            overhead(label, tmp, args.epochs, args.pairs, data, every)
            audit_cost(label, tmp, args.epochs, data, every)


if __name__ == "__main__":
    main()
