"""Rebuilding a run's `record.json` from the outbox after a crash.

The tracker writes `record.json` at the pre-training and post-training stages; epoch stages reach
disk with the post-training save. A process killed in between leaves a record that lacks stages
which were already anchored. The outbox does not lose them: every entry holds its stage's record
snapshot (all trees up to that stage, without receipts and timings) and its receipt. `recover`
takes the longest snapshot the outbox holds for the run folder, checks every other snapshot and
the existing record agree with it (same trees, in order), adds the outbox's receipts and saves the
record atomically. It invents nothing: a stage whose entries never reached a network comes back
as not anchored, and verification then says INCOMPLETE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..record import runlock
from ..record.receipts import AnchorState
from ..errors import FormatError
from .outbox import Entry, Outbox
from ..record import Record
from ..files import RECORD_FILE



@dataclass(frozen=True)
class Recovery:
    run_id: str
    run_dir: Path
    stages: list[str]  # the record's stages after recovery, in order
    recovered: list[str]  # stages that were not in record.json before
    anchors: dict[str, dict[str, str]] = field(default_factory=dict)  # stage -> network -> state
    written: bool = False

    @property
    def unanchored(self) -> list[str]:
        return [s for s in self.stages if not any(v == AnchorState.CONFIRMED.value for v in self.anchors.get(s, {}).values())]

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "run_dir": str(self.run_dir), "stages": self.stages, "recovered": self.recovered,
                "anchors": self.anchors, "not_anchored": self.unanchored, "written": self.written}


def entries_for(run_dir: Path, run_id: str, outbox: Outbox) -> list[Entry]:
    """The outbox entries of the run in `run_dir` (the same run id in another folder is another run)."""
    folder = run_dir.resolve()
    return [e for e in outbox.entries(run_id=run_id) if Path(e.run_dir).resolve() == folder]


def news(record: Record, run_dir: Path, outbox: Outbox) -> list[str]:
    """What the outbox knows about this run that its record does not (stages, newer anchor states)."""
    names = {s.name: s.root for s in record.stages}
    out: list[str] = []
    for entry in entries_for(run_dir, record.run_id, outbox):
        if entry.stage not in names:
            if entry.stage not in out:
                out.append(entry.stage)
            continue
        held = record.receipts_for(entry.stage).get(entry.network)
        if names[entry.stage] == entry.root and (held is None or held.state is not entry.current_receipt().state):
            label = f"{entry.stage}/{entry.network} {entry.state.value}"
            if label not in out:
                out.append(label)
    return out


def recover(run_dir: Path, outbox: Outbox, run_id: str | None = None) -> Recovery:
    """Rebuild `run_dir/record.json` from the outbox (see the module docstring)."""
    path = run_dir / RECORD_FILE
    existing = Record.load(path) if path.exists() else None
    run_id = existing.run_id if existing is not None else run_id or run_dir.name
    fd = runlock.hold(run_dir, run_id)  # never while a training still writes the folder
    try:
        entries = entries_for(run_dir, run_id, outbox)
        if not entries and existing is None:
            raise FormatError(f"run {run_id!r}: expected record.json in {run_dir} or entries for it in the outbox "
                              f"{outbox.path}, found neither: nothing to recover")
        snapshots = _snapshots(entries, outbox)
        best = max(snapshots, key=lambda r: len(r.stages), default=None)
        for other in snapshots + ([existing] if existing is not None else []):
            _check_agrees(best, other)
        record = existing
        if best is not None and (existing is None or len(best.stages) > len(existing.stages)):
            record = best
            if existing is not None:
                record.receipts, record.timings = existing.receipts, existing.timings
        assert record is not None
        before = {s.name for s in existing.stages} if existing is not None else set()
        roots = {s.name: s.root for s in record.stages}
        for entry in entries:
            if roots.get(entry.stage) == entry.root:
                record.set_receipt(entry.stage, entry.current_receipt())
        record.save(path)
        anchors = {s.name: {n: r.state.value for n, r in record.receipts_for(s.name).items()} for s in record.stages}
        return Recovery(run_id, run_dir, [s.name for s in record.stages], [s.name for s in record.stages if s.name not in before],
                        anchors, written=True)
    finally:
        runlock.release(fd)


def _snapshots(entries: list[Entry], outbox: Outbox) -> list[Record]:
    """One record per distinct (stage, root) in the outbox, from its entry's snapshot."""
    seen: set[tuple[str, bytes]] = set()
    records = []
    for entry in entries:
        if (entry.stage, entry.root) in seen:
            continue
        payload = outbox.payload(entry)
        if not payload:
            continue  # an entry without its record (a bare root): nothing to rebuild from
        record = Record.from_snapshot(payload, source=f"outbox entry {entry.id} ({entry.run_id}/{entry.stage})")
        if not record.stages or record.stages[-1].name != entry.stage or record.stages[-1].root != entry.root:
            raise FormatError(f"outbox entry {entry.id}: expected the snapshot of {entry.stage} (root 0x{entry.root.hex()}), "
                              "found another stage's")
        seen.add((entry.stage, entry.root))
        records.append(record)
    return records


def _check_agrees(best: Record | None, other: Record) -> None:
    """`other`'s trees are the first trees of `best` (or the other way round): one run's history."""
    if best is None:
        return
    a = [(s.name, s.root) for s in best.stages]
    b = [(s.name, s.root) for s in other.stages]
    n = min(len(a), len(b))
    if a[:n] != b[:n] or best.run_id != other.run_id:
        raise FormatError(f"run {best.run_id!r}: expected the outbox and record.json to hold one history, found different "
                          f"trees ({', '.join(f'{x}' for x, _ in a)} vs {', '.join(f'{x}' for x, _ in b)}); nothing was written")
