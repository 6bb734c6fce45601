"""Proof of training: replay randomly drawn stretches of a run and compare with its anchored states.

`audit_run(run_dir, segments=K)`:

1. verifies the run (`provenance.verification.verify`): every leaf re-hashes, every root is
   anchored by the run's identity; an audit trusts nothing of a run that does not verify;
2. lists the run's segments from its anchored leaves (a segment = from one committed training
   state to the next, `provenance.training.audit_trail`) and checks their structure: the first
   state holds the committed initial weights, each epoch's last state the epoch tree's weights,
   the post tree's weights the last state's, each epoch's order a permutation of every committed
   training sample, each epoch's step count that of its batches;
3. draws K segments from chain randomness: seed = keccak256(hash of the block holding the
   Ethereum anchor of `post` || final root), unknown to the trainer until the run was closed
   (`seed=` overrides it, to reproduce an audit); segment i ranks by keccak256(seed || u64(i)),
   the K lowest are replayed;
4. replays each: the start state's file is re-read (bounded) and re-hashed against its anchored
   leaf before it is trusted, weights, optimizer and RNG are loaded into a model the verifier
   builds (`replay.STEPS`, by the committed step's name; no code from the run folder), the
   committed samples are taken in the committed order, and the end weights compared with the
   end state's: bit-exact digests (weights and optimizer tensors) in exact mode; in tolerance
   mode the normalised distance ||W' - W_end|| / ||W_end - W_start|| against the recorded
   tolerance (capped by the verifier's `max_tolerance`).

Verdicts: AUDITED (0) every drawn segment reproduced; FAILED (1) naming the segment and the
distance (also: the run does not verify, or its structure does not hold); CANNOT CHECK (3) the
data, a committed file or the chain's randomness is not available, or no replayer is known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from eth_utils import keccak

from ..files import RECORD_FILE
from ..digests import datasets as data_sources
from ..digests import models, train_state
from ..digests.hashing import state_dict_leaves
from ..errors import FormatError, ProvenanceError
from ..merkle import Leaf
from ..record import Record, Stage
from ..record.kinds import DATA_SAMPLE
from . import hf_replay
from .replay import STEPS, Replayer
from .audit_replay import Plan, Segment, SegmentResult, _distance, _read, _replay  # noqa: F401 - _distance: read from here by tests

AUDITED, FAILED, CANNOT_CHECK = "AUDITED", "FAILED", "CANNOT CHECK"
EXIT = {AUDITED: 0, FAILED: 1, CANNOT_CHECK: 3}
MAX_TOLERANCE = 0.05  # the loosest recorded tolerance a verifier accepts unless told otherwise
AUDIT_KINDS = (train_state.STATE_KIND, train_state.ORDER_KIND, train_state.OPTIM_KIND, train_state.RNG_KIND, train_state.REPLAY_KIND)


@dataclass
class AuditReport:
    run_id: str
    verdict: str = CANNOT_CHECK
    detail: str = ""
    segments_total: int = 0
    drawn: list[int] = field(default_factory=list)
    seed: str | None = None
    seed_source: str | None = None
    results: list[SegmentResult] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    verification: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT[self.verdict]

    def to_json(self) -> dict[str, Any]:
        return {"format": "provenance-audit/v1", "run_id": self.run_id, "verdict": self.verdict, "detail": self.detail,
                "verification": self.verification, "segments_total": self.segments_total, "drawn": self.drawn,
                "seed": self.seed, "seed_source": self.seed_source,
                "escape_probability": self.escape_probability(),
                "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in self.checks],
                "segments": [r.to_json() for r in self.results]}

    def escape_probability(self) -> str | None:
        k = len(self.drawn)
        return f"(1-f)^{k}" if k else None

    def finish(self, verdict: str, detail: str) -> AuditReport:
        self.verdict, self.detail = verdict, detail
        return self


def draw_seed(block_hash: bytes, final_root: bytes) -> bytes:
    return keccak(bytes(block_hash) + bytes(final_root))


def seed_from_int(seed: int) -> bytes:
    if not 0 <= seed < 1 << 256:
        raise FormatError(f"--seed: expected an integer in [0, 2**256), found {seed}")
    return keccak(b"provenance-audit-seed/v1" + seed.to_bytes(32, "big"))


def draw(seed: bytes, total: int, k: int) -> list[int]:
    """The K segments (of `total`) whose keccak256(seed || u64(index)) are lowest, in index order."""
    ranked = sorted(range(total), key=lambda i: keccak(seed + i.to_bytes(8, "big")))
    return sorted(ranked[: min(k, total)])


def audit_run(run_dir: str | Path, *, segments: int, seed: int | None = None, tolerance: float | None = None,
              max_tolerance: float = MAX_TOLERANCE, config: Any = None, submitters: Sequence[str] = (),
              anchors: Any = None, datasets: tuple[Any, Any] | None = None,
              steps: Mapping[str, Replayer] | None = None) -> AuditReport:
    """Audit K = `segments` drawn segments of the run in `run_dir` (see the module docstring).
    `tolerance`: compare by distance with this threshold even where the run recorded exact mode
    (another machine); `steps`: replayers beyond ours (integrations' user code, the verifier's)."""
    from ..verification.verify import verify_run

    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise FormatError(f"segments: expected a positive integer, found {segments!r}")
    run_dir = Path(run_dir)
    record = Record.load(run_dir / RECORD_FILE)
    report = AuditReport(record.run_id)
    epochs = [s for s in record.stages if s.name.startswith("epoch-")]
    if not any(leaf.kind == train_state.STATE_KIND for s in epochs for leaf in s.leaves):
        return report.finish(CANNOT_CHECK, "the run commits no replay material (no train.state leaves): it was trained "
                                           "without proof of training, or without epoch trees")
    missing = [leaf.name for s in epochs for leaf in s.leaves if leaf.kind in (train_state.STATE_KIND, train_state.ORDER_KIND)
               and _well_named(leaf) and not (run_dir / leaf.name).exists()]  # other names: verification fails them
    if missing:
        return report.finish(CANNOT_CHECK, f"{len(missing)} committed replay files are absent from the run folder "
                                           f"({', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}): supply them")
    try:
        data = datasets if datasets is not None else data_sources.load(record.artifacts.get("dataset", {"source": "custom"}))
    except ProvenanceError as e:
        return report.finish(CANNOT_CHECK, f"the committed data cannot be loaded: {e}")
    verification = verify_run(run_dir, anchors=anchors, datasets=data, config=config, submitters=submitters)
    report.verification = verification.verdict
    if not verification.ok:
        bad = [f"{c.name}: {c.detail}" for c in verification.checks if not c.ok][:3]
        return report.finish(FAILED, f"the run does not verify ({verification.verdict}): " + "; ".join(bad)
                             + " — an audit trusts only a verified run")
    record = Record.load(run_dir / RECORD_FILE)  # what verification read and found to hold
    try:
        plan = _plan(record, run_dir, data, report)
    except FormatError as e:
        return report.finish(FAILED, str(e))
    if plan is None:
        return report.finish(FAILED, "; ".join(d for n, ok, d in report.checks if not ok))
    report.segments_total = len(plan.segments)
    seed_bytes = _seed(seed, verification, record, report)
    if seed_bytes is None:
        return report.finish(CANNOT_CHECK, "no Ethereum anchor of the post tree to draw the segments from; "
                                           "pass --seed to audit with a seed of your choosing")
    report.seed = "0x" + seed_bytes.hex()
    report.drawn = draw(seed_bytes, len(plan.segments), segments)
    known = dict(STEPS)
    if any(s.get("step") == hf_replay.STEP_NAME for s in plan.replay.values()):
        known[hf_replay.STEP_NAME] = hf_replay.REPLAYER  # imports transformers: only for runs that name it
    for index in report.drawn:
        report.results.append(_replay(plan, plan.segments[index], run_dir, data, tolerance, max_tolerance, {**known, **(steps or {})}))
    failed = [r for r in report.results if r.status == "failed"]
    if failed:
        return report.finish(FAILED, "; ".join(f"{r.segment.describe()} not reproduced: {r.detail}" for r in failed))
    unchecked = [r for r in report.results if r.status != "reproduced"]
    if unchecked:
        return report.finish(CANNOT_CHECK, "; ".join(f"{r.segment.describe()}: {r.detail}" for r in unchecked))
    return report.finish(AUDITED, f"{len(report.drawn)} of {len(plan.segments)} segments replayed and reproduced")



def _seed(seed: int | None, verification: Any, record: Record, report: AuditReport) -> bytes | None:
    """The draw's seed: the auditor's own, else keccak256 of the post anchor's block hash and the
    final root (unknown to the trainer when it committed); None without such an anchor."""
    if seed is not None:
        report.seed_source = f"--seed {seed}"
        return seed_from_int(seed)
    post = next((a for a in verification.anchors if a["stage"] == "post" and a["network"] == "ethereum"
                 and a.get("status") == "ok" and a.get("facts", {}).get("block_hash")), None)
    if post is None:
        return None
    block_hash = bytes.fromhex(str(post["facts"]["block_hash"]).removeprefix("0x"))
    report.seed_source = (f"keccak256(hash of block {post['facts'].get('block_number')} holding the post anchor, "
                          f"0x{block_hash.hex()} || final root 0x{record.stages[-1].root.hex()})")
    return draw_seed(block_hash, record.stages[-1].root)

# ---------------------------------------------------------------- the run's segments


def _plan(record: Record, run_dir: Path, data: tuple[Any, Any], report: AuditReport) -> Plan | None:
    def check(name: str, ok: bool, detail: str) -> bool:
        report.checks.append((name, ok, detail))
        return ok

    pre, post = record.stage("pre"), record.stages[-1]
    epochs = [s for s in record.stages if s.name.startswith("epoch-")]
    train_count = sum(1 for leaf in pre.leaves if leaf.kind == DATA_SAMPLE and leaf.name.startswith("train/"))
    states: list[tuple[int, int, Leaf, Stage]] = []
    replay: dict[int, dict[str, Any]] = {}
    orders: dict[int, Leaf] = {}
    ok = True
    for number, stage in enumerate(epochs, start=1):
        if stage.name != f"epoch-{number}":
            check("epoch trees", False, f"expected tree epoch-{number}, found {stage.name}")
            return None
        own = [leaf for leaf in stage.leaves if leaf.kind == train_state.STATE_KIND]
        epoch_files = [leaf for leaf in stage.leaves if leaf.kind == train_state.ORDER_KIND]
        settings = record.artifacts.get("stages", {}).get(stage.name, {}).get("replay")
        if not own or len(epoch_files) != 1 or not isinstance(settings, dict):
            check(f"{stage.name} replay material", False, f"{stage.name} commits no complete replay material "
                  f"({len(own)} states, {len(epoch_files)} epoch files): a stretch of training that cannot be replayed")
            return None
        replay[number], orders[number] = settings, epoch_files[0]
        if train_state.parse_epoch_name(epoch_files[0].name) != number:
            check(f"{stage.name} epoch file", False, f"{epoch_files[0].name} is not epoch {number}'s")
            return None
        for leaf in own:
            epoch, step = train_state.parse_state_name(leaf.name)
            if epoch != number:
                check(f"{stage.name} states", False, f"{leaf.name} belongs to epoch {epoch}, found in {stage.name}")
                return None
            states.append((epoch, step, leaf, stage))
        # the order: a permutation of every committed training sample, in as many steps as batches
        order = _order(run_dir, epoch_files[0])
        steps, batch = settings.get("steps"), settings.get("batch_size")
        perm = len(order) == train_count and np.array_equal(np.sort(order), np.arange(train_count))
        ok &= check(f"{stage.name} batch order", perm,
                    f"a permutation of the {train_count} committed training samples" if perm else
                    f"expected a permutation of the {train_count} committed training samples, found {len(order)} indices "
                    f"({len(np.unique(order)) if len(order) else 0} distinct): the epoch did not train on the committed data")
        good_steps = isinstance(batch, int) and batch > 0 and steps == -(-len(order) // batch)
        ok &= check(f"{stage.name} steps", good_steps, f"{steps} steps of batch size {batch} over {len(order)} samples")
        last = max(step for e, step, _, _ in states if e == number)
        ok &= check(f"{stage.name} end state", last == steps, f"the last state of {stage.name} is after step {last} of {steps}")
    states.sort(key=lambda s: (s[0], s[1]))
    if not ok:
        return None
    first = states[0]
    if (first[0], first[1]) != (1, 0):
        check("start state", False, f"expected the first state to be audit/e001-s000000, found {first[2].name}")
        return None
    if not _links_hold(run_dir, states, epochs, pre, post, check):
        return None
    segments = _segments(states, replay, check)
    return Plan(segments, dict(record.config), replay, orders) if segments is not None else None


def _links_hold(run_dir: Path, states: list[tuple[int, int, Leaf, Stage]], epochs: list[Stage], pre: Stage, post: Stage,
                check: Callable[[str, bool, str], bool]) -> bool:
    """The committed states' weights equal the trajectory's trees: init, every epoch end, final
    (every link checked, each one's result noted)."""
    links = [(states[0][2], pre, "the committed initial weights (pre)")]
    for number, stage in enumerate(epochs, start=1):
        end = max((s for s in states if s[0] == number), key=lambda s: s[1])
        links.append((end[2], stage, f"{stage.name}'s weights"))
    links.append((states[-1][2], post, "the final weights (post)"))
    ok = True
    for leaf, stage, what in links:
        weights = _read(run_dir, leaf).group("model/")
        expected = {x.name: x for x in stage.leaves if x.kind == models.PARAM_KIND}
        found = {x.name: x for x in state_dict_leaves(weights)}
        same = found == expected
        ok &= check(f"{leaf.name} weights", same, f"equal to {what}" if same else
                    f"differ from {what}: {sum(1 for k in expected if found.get(k) != expected[k])} of {len(expected)} tensors")
    return ok


def _segments(states: list[tuple[int, int, Leaf, Stage]], replay: dict[int, dict[str, Any]],
              check: Callable[[str, bool, str], bool]) -> list[Segment] | None:
    """Consecutive committed states joined into segments (across an epoch's end too); None where
    two cannot be joined."""
    segments: list[Segment] = []
    for (ea, sa, la, _), (eb, sb, lb, _) in zip(states, states[1:]):
        if eb == ea:
            segments.append(Segment(len(segments), ea, sa, sb, la, lb))
        elif eb == ea + 1 and sa == replay[ea].get("steps"):
            segments.append(Segment(len(segments), eb, 0, sb, la, lb))
        else:
            check("segments", False, f"no segment joins {la.name} to {lb.name}")
            return None
    return segments


def _well_named(leaf: Leaf) -> bool:
    try:
        (train_state.parse_state_name if leaf.kind == train_state.STATE_KIND else train_state.parse_epoch_name)(leaf.name)
        return True
    except FormatError:
        return False


def _order(run_dir: Path, leaf: Leaf) -> np.ndarray:
    order = _read(run_dir, leaf).tensors.get("order")
    if order is None or order.dtype != torch.int64 or order.dim() != 1:
        raise FormatError(f"{leaf.name}: expected a 1-d int64 tensor 'order'")
    return order.numpy()


# ---------------------------------------------------------------- replaying one segment


def summary(report: AuditReport) -> str:
    """The audit as a person reads it."""
    lines = [f"{'ok    ' if ok else 'FAILED'}  {name}: {detail}" for name, ok, detail in report.checks if not ok]
    if report.seed:
        lines.append(f"draw: {len(report.drawn)} of {report.segments_total} segments, seed {report.seed} = {report.seed_source}")
    for r in report.results:
        lines.append(f"  {r.segment.describe()} {r.segment.start.name} -> {r.segment.end.name}: "
                     f"{r.status.upper()} ({r.mode}) {r.detail}; replayed in {r.seconds:.3f} s")
    if report.verdict == AUDITED:
        lines.append(f"a trajectory with a fraction f of forged segments passes this audit with probability at most "
                     f"(1-f)^{len(report.drawn)}")
    lines.append(f"run {report.run_id}: audit {report.verdict}: {report.detail}")
    return "\n".join(lines)

