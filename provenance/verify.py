"""Verification of a run from its folder alone, as a fresh process on any machine would do it.

1. every stage's root is recomputed from its recorded leaves;
2. the chain holds: each stage's `chain.prev` leaf is the previous stage's root;
3. the artifacts are re-hashed (dataset samples, saved models, config file) and compared leaf by
   leaf with the record, naming each leaf that changed and the tree it belongs to;
4. every anchor receipt is checked against its network, and the Ethereum `recordDigest` against
   the stage's snapshot of the record;
5. for a DP run, the epsilon history: never decreasing, within the committed target, each value
   recomputed from its mechanism's parameters (`provenance.privacy`).
Anything that cannot be checked is a failed check that says why, never a pass.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import context, datasets, models, privacy
from .anchoring import Anchors
from .config import load_config
from .errors import FormatError, ProvenanceError
from .files import read_file
from .hashing import dataset_leaves
from .merkle import Leaf, MerkleTree
from .record import CHAIN_PREV, Record, Stage

RECORD_FILE = "record.json"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class LeafChange:
    """One leaf whose artifact no longer hashes to the recorded value."""

    stage: str
    kind: str
    name: str
    change: str  # "changed", "missing" (recorded, not found now) or "unexpected" (found, not recorded)
    recorded: str | None
    found: str | None

    def describe(self) -> str:
        return f"{self.kind}:{self.name} in tree {self.stage!r} {self.change}"


@dataclass
class VerificationReport:
    run_id: str
    checks: list[Check] = field(default_factory=list)
    changes: list[LeafChange] = field(default_factory=list)
    anchors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chain_integrity: bool = False
    privacy: list[dict[str, Any]] = field(default_factory=list)  # the epsilon history of a DP run, by tree

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks) and not self.changes

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "provenance-verification/v1",
            "run_id": self.run_id,
            "ok": self.ok,
            "chain_integrity": self.chain_integrity,
            "checks": [asdict(c) for c in self.checks],
            "changes": [asdict(c) | {"description": c.describe()} for c in self.changes],
            "anchors": self.anchors,
            "warnings": self.warnings,
            "privacy": self.privacy,
        }


def verify_run(
    run_dir: str | Path,
    *,
    anchors: Anchors | None = None,
    datasets: tuple[Any, Any] | None = None,
    config: Mapping[str, Any] | str | Path | None = None,
) -> VerificationReport:
    """Verify the run in `run_dir`. `datasets` = (train, test) for runs on in-memory data."""
    run_dir = Path(run_dir)
    record = Record.load(run_dir / RECORD_FILE)
    report = VerificationReport(record.run_id)
    _check_roots(record, report)
    report.chain_integrity = _check_chain(record, report)
    _check_artifacts(record, run_dir, datasets, report)
    _check_privacy(record, report)
    _check_anchors(record, anchors or Anchors(load_config(config)), report)
    return report


def _check_roots(record: Record, report: VerificationReport) -> None:
    if not record.stages:
        report.add("record", False, "the record has no trees")
    for stage in record.stages:
        root = MerkleTree.of(stage.leaves).root
        report.add(
            f"tree {stage.name}", root == stage.root,
            f"root 0x{stage.root.hex()} recomputed from {len(stage.leaves)} leaves"
            if root == stage.root else f"recorded root 0x{stage.root.hex()} but its leaves give 0x{root.hex()}",
        )


def _check_chain(record: Record, report: VerificationReport) -> bool:
    ok = True
    for i, stage in enumerate(record.stages):
        links = [leaf for leaf in stage.leaves if leaf.kind == CHAIN_PREV]
        if i == 0:
            ok &= report.add(f"chain {stage.name}", not links and stage.prev is None, "first tree, no previous root"
                             if not links and stage.prev is None else "the first tree must not link to a previous root")
            continue
        prev = record.stages[i - 1]
        good = stage.prev == prev.name and len(links) == 1 and links[0].name == prev.name and links[0].digest == prev.root
        ok &= report.add(
            f"chain {stage.name}", good,
            f"commits to {prev.name} root 0x{prev.root.hex()}" if good else f"does not commit to the previous tree {prev.name!r}",
        )
    return ok


# ---------------------------------------------------------------------- artifacts

def _check_artifacts(record: Record, run_dir: Path, data: tuple[Any, Any] | None, report: VerificationReport) -> None:
    sources: dict[str, Callable[[Stage], list[Leaf]]] = {
        "data.sample": lambda stage: _dataset_leaves(record, data),
        models.PARAM_KIND: lambda stage: _model_leaves(record, run_dir, stage)[0],
        models.FILE_KIND: lambda stage: _model_leaves(record, run_dir, stage)[1],
        "config": lambda stage: _config_leaves(record, run_dir, report),
        "code.git": lambda stage: context.code_leaves(record.code),
        "env": lambda stage: context.environment_leaves(record.environment),
        "metrics": lambda stage: context.mapping_leaves("metrics", _plain_metrics(stage)),
        "results": lambda stage: context.mapping_leaves("results", _plain_metrics(stage)),
        privacy.KIND: lambda stage: privacy.leaves(_accounting_json(stage)),
    }
    cache: dict[tuple[str, str], list[Leaf] | ProvenanceError] = {}
    for stage in record.stages:
        for kind in sorted({leaf.kind for leaf in stage.leaves} - {CHAIN_PREV}):
            recorded = [leaf for leaf in stage.leaves if leaf.kind == kind]
            if kind not in sources:
                report.add(f"{stage.name} {kind}", False, f"{len(recorded)} leaves of kind {kind!r}: no way to re-hash them")
                continue
            key = (kind, stage.name if kind not in ("data.sample", "config", "code.git", "env") else "")
            if key not in cache:
                try:
                    cache[key] = sources[kind](stage)
                except ProvenanceError as e:
                    cache[key] = e
            found = cache[key]
            if isinstance(found, ProvenanceError):
                report.add(f"{stage.name} {kind}", False, f"cannot re-hash {len(recorded)} leaves: {found}")
                continue
            changes = _compare(stage.name, recorded, found)
            report.changes.extend(changes)
            report.add(
                f"{stage.name} {kind}", not changes,
                f"{len(recorded)} leaves re-hashed, all equal" if not changes
                else f"{len(changes)} of {len(recorded)} leaves differ: " + ", ".join(c.describe() for c in changes[:5])
                + (" ..." if len(changes) > 5 else ""),
            )


def _compare(stage: str, recorded: Sequence[Leaf], found: Sequence[Leaf]) -> list[LeafChange]:
    before = {(x.kind, x.name): x for x in recorded}
    after = {(x.kind, x.name): x for x in found}
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        change = "missing" if new is None else "unexpected" if old is None else "changed"
        changes.append(LeafChange(stage, key[0], key[1], change, _digest(old), _digest(new)))
    return changes


def _digest(leaf: Leaf | None) -> str | None:
    return None if leaf is None else f"0x{leaf.digest.hex()} ({leaf.size} bytes)"


def _dataset_leaves(record: Record, data: tuple[Any, Any] | None) -> list[Leaf]:
    train, test = data if data is not None else datasets.load(record.artifacts.get("dataset", {"source": "custom"}))
    return dataset_leaves(train, "train") + (dataset_leaves(test, "test") if test is not None else [])


def _model_leaves(record: Record, run_dir: Path, stage: Stage) -> tuple[list[Leaf], list[Leaf]]:
    name = record.artifacts.get("stages", {}).get(stage.name, {}).get("model")
    if not name:
        raise ProvenanceError(f"the record names no model file for tree {stage.name!r}")
    path = run_dir / name
    data = read_file(path, "model file")
    file_leaves = [models.file_leaf(name, data)]
    try:
        params = models.weight_leaves(models.load_weights(path))
    except ProvenanceError:
        params = []  # unreadable: every tensor leaf is reported missing, the file leaf as changed
    return params, file_leaves


def _has_privacy(stage: Stage) -> bool:
    return any(leaf.kind == privacy.KIND for leaf in stage.leaves)


def _plain_metrics(stage: Stage) -> dict[str, Any]:
    """A stage's metrics or results without the DP accounting, which has leaves of its own."""
    return {k: v for k, v in stage.metrics.items() if not (_has_privacy(stage) and k == privacy.METRICS_KEY)}


def _accounting_json(stage: Stage) -> dict[str, Any]:
    value = stage.metrics.get(privacy.METRICS_KEY)
    if not isinstance(value, dict):
        raise FormatError(f"tree {stage.name!r} has privacy leaves but its metrics hold no accounting object under "
                          f"{privacy.METRICS_KEY!r} (found {type(value).__name__})")
    return value


def _check_privacy(record: Record, report: VerificationReport) -> None:
    """The epsilon history of a DP run, from the stages' metrics (whose leaves `_check_artifacts`
    has re-hashed): present in every epoch tree, non-decreasing, within the committed target."""
    target = record.config.get("dp")
    stages = [s for s in record.stages if _has_privacy(s)]
    if target is None and not stages:
        return
    if not isinstance(target, dict):
        report.add("privacy target", False, "trees hold privacy leaves, but the run's config commits to no DP target")
        return
    missing = [s.name for s in record.stages if s.name.startswith("epoch-") and not _has_privacy(s)]
    if missing:
        report.add("privacy in every epoch", False, "no privacy leaves in " + ", ".join(missing))
    history = []
    for stage in stages:
        try:
            accounting = privacy.Accounting.from_json(_accounting_json(stage), where=f"tree {stage.name!r} privacy")
        except FormatError as e:
            report.add(f"{stage.name} privacy accounting", False, str(e))
            return
        history.append((stage.name, accounting))
        report.privacy.append({"stage": stage.name} | accounting.to_json())
    for name, ok, detail in privacy.check_history(history, target):
        report.add(name, ok, detail)


def _config_leaves(record: Record, run_dir: Path, report: VerificationReport) -> list[Leaf]:
    path = run_dir / record.artifacts.get("config", "config.json")
    try:
        config = json.loads(read_file(path, "config file").decode("utf-8"))
    except UnicodeDecodeError:
        raise ProvenanceError(f"config file {path}: expected UTF-8 JSON, found other bytes") from None
    except json.JSONDecodeError as e:
        raise ProvenanceError(f"config file {path} is not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(config, dict):
        raise ProvenanceError(f"config file {path}: expected a JSON object, found {type(config).__name__}")
    differing = sorted(k for k in config.keys() | record.config.keys() if config.get(k) != record.config.get(k))
    report.add("config file equals the record's config", not differing,
               "equal" if not differing else "keys differ: " + ", ".join(differing))
    return context.config_leaves(config)


# ---------------------------------------------------------------------- anchors

def _check_anchors(record: Record, anchors: Anchors, report: VerificationReport) -> None:
    verified_stages = set()
    for entry in record.receipts:
        stage, receipt = entry.stage, entry.receipt
        try:
            root = record.stage(stage).root
        except ProvenanceError as e:
            report.add(f"anchor {stage} {receipt.network}", False, str(e))
            continue
        if receipt.root != root:
            report.add(f"anchor {stage} {receipt.network}", False, f"receipt is for 0x{receipt.root.hex()}, the tree root is 0x{root.hex()}")
            continue
        verdict = anchors.verify(receipt)
        report.anchors.append({"stage": stage} | verdict.to_json() | {"location": dict(receipt.location)})
        report.add(f"anchor {stage} {receipt.network}", verdict.ok, verdict.detail)
        digest = receipt.location.get("record_digest")
        batched = "batch_root" in receipt.location  # the batch's own manifest digest was anchored
        if verdict.ok and digest is not None and digest != "0x" + "00" * 32 and not batched:
            expected = "0x" + record.snapshot_digest(stage).hex()
            if digest == expected:
                report.add(f"record digest {stage} {receipt.network}", True, "anchored recordDigest equals the record's snapshot")
            else:
                # The root (every leaf) is anchored; the record around it is another one, e.g. an
                # identical rerun whose root was anchored first. Say so; the trees still verify.
                report.warnings.append(
                    f"{stage}: root anchored with recordDigest {digest}, not this record's {expected} "
                    "(the same trees were anchored by another record); this record's metadata is not anchored"
                )
        if verdict.ok:
            verified_stages.add(stage)
    _check_ipfs_matches_ethereum(record, report)
    last = record.last_stage
    if last is not None:
        anchored = [s.name for s in record.stages if s.name in verified_stages]
        report.add(
            "final root anchored", last.name in verified_stages,
            f"tree {last.name!r} is anchored and commits to every earlier tree (anchored: {', '.join(anchored)})"
            if last.name in verified_stages else f"no verified anchor for the final tree {last.name!r} (root 0x{last.root.hex()})",
        )


def _check_ipfs_matches_ethereum(record: Record, report: VerificationReport) -> None:
    """The record stored on IPFS for a stage is the one whose digest was anchored on Ethereum:
    the contract's `recordDigest` is the sha2-256 inside the CID, so the CID follows from the chain."""
    from .anchors.ipfs import cid_from_sha256

    for stage in record.stages:
        receipts = record.receipts_for(stage.name)
        eth, ipfs = receipts.get("ethereum"), receipts.get("ipfs")
        if eth is None or ipfs is None or "cid" not in ipfs.location or "batch_root" in eth.location:
            continue
        digest = eth.location.get("record_digest")
        if not digest:
            continue
        expected = cid_from_sha256(bytes.fromhex(str(digest)[2:]))
        report.add(f"ipfs record of {stage.name} is the one anchored on Ethereum", expected == ipfs.location["cid"],
                   f"CID {ipfs.location['cid']} follows from the anchored recordDigest" if expected == ipfs.location["cid"]
                   else f"the anchored recordDigest gives CID {expected}, the IPFS receipt names {ipfs.location['cid']}")
