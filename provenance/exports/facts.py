"""What every export states about a run, read once from its folder: one frozen value per claim.

The exports (SLSA provenance, CycloneDX BOM) are views of these facts, so they say the same
things. Nothing here is copied from the folder on trust where it can be checked: a model file's
sha256 is computed from bytes whose blake3 must equal the anchored `model.file` leaf, and a
dataset split's root is recomputed from the `pre` tree's sample leaves. Only files the record
names, inside the run folder, are read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from ..merkle.kinds import DATA_KINDS, MODEL_FILE as FILE_KIND
from ..digests.hashing import hash_bytes
from ..errors import FormatError
from ..files import RECORD_FILE, read_file
from ..merkle import Leaf, MerkleTree
from ..record import Record, Stage
from ..record.receipts import AnchorState
from .screen import screen

# Receipt fields that are the node's business, not a claim about the anchor (a raw transaction,
# the redacted URL of the node that answered).
_LOCAL_FIELDS = ("raw_tx", "node")


@dataclass(frozen=True)
class FileFact:
    """A model file of the run: its path in the run folder and its digests."""

    stage: str
    name: str
    size: int
    sha256: str  # hex, of the file's bytes
    blake3: str  # hex, of the file's bytes: the anchored `model.file` leaf's digest


@dataclass(frozen=True)
class SplitFact:
    """One dataset split: its sample (or shard) leaves in the `pre` tree and the root of their tree."""

    split: str
    kind: str
    count: int
    root: str  # hex, provenance-merkle/v1 root of the split's leaves


@dataclass(frozen=True)
class AnchorFact:
    """One confirmed anchor of a stage root, as the record's receipt names it."""

    stage: str
    network: str
    root: str  # hex
    location: tuple[tuple[str, Any], ...]

    @property
    def where(self) -> dict[str, Any]:
        return dict(self.location)

    @property
    def key(self) -> str:
        return f"{self.stage}/{self.network}"


@dataclass(frozen=True)
class RunFacts:
    run_id: str
    tracker_version: str  # ml-provenance's version in the run's environment: the "builder" that ran it
    record_format: str
    merkle_format: str
    canonicalization: str
    config: Mapping[str, Any]
    code: Mapping[str, Any]
    environment: Mapping[str, Any]  # without the package list
    packages: tuple[tuple[str, str], ...]
    dataset: Mapping[str, Any]
    splits: tuple[SplitFact, ...]
    model: FileFact
    initial_model: FileFact | None
    metrics: Mapping[str, Any]
    started_on: str
    finished_on: str
    roots: tuple[tuple[str, str], ...]  # (stage, hex root) in chain order
    anchors: tuple[AnchorFact, ...]

    @property
    def final_root(self) -> str:
        return self.roots[-1][1]


def run_facts(run_dir: Path) -> RunFacts:
    """The facts of the run in `run_dir`; a FormatError if it has no `post` tree, if a model file
    does not hash to its anchored leaf, or if a free-form value holds a private key."""
    run_dir = Path(run_dir)
    record = Record.load(run_dir / RECORD_FILE)
    names = [s.name for s in record.stages]
    if not names or names[-1] != "post" or names[0] != "pre":
        raise FormatError(f"run {record.run_id}: expected trees pre ... post to export, found {', '.join(names) or 'none'}")
    pre, post = record.stages[0], record.stages[-1]
    environment = {k: v for k, v in record.environment.items() if k != "packages"}
    packages = record.environment.get("packages", {})
    if not isinstance(packages, dict):
        raise FormatError(f"run {record.run_id}: expected environment.packages to be an object, found {type(packages).__name__}")
    facts = RunFacts(
        run_id=record.run_id,
        tracker_version=str(packages.get("ml-provenance", "unknown")),
        record_format=record.format,
        merkle_format=record.to_json()["merkle"],
        canonicalization=record.canonicalization,
        config=screen(record.config, "config"),
        code=screen(record.code, "code"),
        environment=screen(environment, "environment"),
        packages=tuple(sorted((str(k), str(v)) for k, v in screen(packages, "environment.packages").items())),
        dataset=screen(record.artifacts.get("dataset", {}), "artifacts.dataset"),
        splits=_splits(pre),
        model=_model_file(record, post, run_dir),
        initial_model=_model_file(record, pre, run_dir) if _named_model(record, pre) else None,
        metrics=screen(_plain(post.metrics), "metrics of post"),
        started_on=_utc(pre.created_at, "pre"),
        finished_on=_utc(post.created_at, "post"),
        roots=tuple((s.name, s.root.hex()) for s in record.stages),
        anchors=_anchors(record),
    )
    return facts


def _named_model(record: Record, stage: Stage) -> bool:
    return bool(record.artifacts.get("stages", {}).get(stage.name, {}).get("model"))


def _model_file(record: Record, stage: Stage, run_dir: Path) -> FileFact:
    """The stage's model file, its bytes checked against the stage's `model.file` leaf."""
    leaves = [leaf for leaf in stage.leaves if leaf.kind == FILE_KIND]
    if len(leaves) != 1:
        raise FormatError(f"tree {stage.name!r}: expected one {FILE_KIND} leaf, found {len(leaves)}")
    leaf = leaves[0]
    path = _inside(run_dir, leaf.name)
    data = read_file(path, "model file")
    found = hash_bytes(data)
    if found != leaf.digest or len(data) != leaf.size:
        raise FormatError(f"{FILE_KIND}:{leaf.name} in tree {stage.name!r} changed: the anchored leaf has blake3 "
                          f"0x{leaf.digest.hex()} ({leaf.size} bytes), the file has 0x{found.hex()} ({len(data)} bytes)")
    return FileFact(stage.name, leaf.name, len(data), hashlib.sha256(data).hexdigest(), found.hex())


def _inside(run_dir: Path, name: str) -> Path:
    """`run_dir / name`, refusing a name that leaves the run folder (the folder is the attacker's)."""
    base = run_dir.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base) or path == base:
        raise FormatError(f"model file {name!r}: expected a path inside the run folder {run_dir}, found one outside it")
    return path


def _splits(pre: Stage) -> tuple[SplitFact, ...]:
    groups: dict[tuple[str, str], list[Leaf]] = {}
    for leaf in pre.leaves:
        if leaf.kind in DATA_KINDS:
            split = leaf.name.split("/", 1)[0] if "/" in leaf.name else "all"
            groups.setdefault((split, leaf.kind), []).append(leaf)
    return tuple(SplitFact(split, kind, len(leaves), MerkleTree.of(leaves).root.hex())
                 for (split, kind), leaves in sorted(groups.items()))


def _anchors(record: Record) -> tuple[AnchorFact, ...]:
    roots = {s.name: s.root for s in record.stages}
    out = []
    for entry in record.receipts:
        receipt = entry.receipt
        if receipt.state is not AnchorState.CONFIRMED or roots.get(entry.stage) != receipt.root:
            continue  # an export claims what holds: pending, failed and stray receipts are not anchors
        location = {k: v for k, v in receipt.location.items() if k not in _LOCAL_FIELDS}
        screen(location, f"receipt {entry.stage}/{receipt.network}")
        out.append(AnchorFact(entry.stage, receipt.network, receipt.root.hex(), tuple(sorted(location.items()))))
    order = {name: i for i, name in enumerate(roots)}
    return tuple(sorted(out, key=lambda a: (order[a.stage], a.network)))


def _plain(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The post tree's metrics that are numbers (the headline results, not the epoch history)."""
    return {k: v for k, v in sorted(metrics.items()) if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _utc(stamp: str, stage: str) -> str:
    """An ISO 8601 time as RFC 3339 UTC with a `Z`, as SLSA's timestamps are written."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        raise FormatError(f"tree {stage!r}: expected an ISO 8601 creation time, found {stamp!r}") from None
    if moment.tzinfo is None:
        raise FormatError(f"tree {stage!r}: expected a creation time with its UTC offset, found {stamp!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
