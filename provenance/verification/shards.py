"""Verifying a sharded dataset at scale: every shard re-hashed on an engine, or a seeded spot check.

Full check: every shard is re-hashed where the engine runs and its root and count compared with
the anchored `data.shard` leaf. A shard that differs is then re-hashed sample by sample and
compared with its tree as kept at hashing time (`--leaves-dir`, one dump per shard, written by
the workers), which is trusted only if it hashes to the anchored shard root; that names the
changed sample. Without a kept tree, the changed shard is still named, and the report says why
the sample cannot be.

Spot check: K samples drawn uniformly over all samples (with replacement, `random.Random(seed)`;
the seed is printed so anyone can redraw them). Each drawn sample's shard is re-hashed on the
engine, which sends back only the drawn samples' leaves and proofs; each is then checked with its
nested proof against the anchored tree (`merkle.reference.verify_nested`). If a fraction p of the
samples were tampered with, all K draws miss every one of them with probability (1 - p)^K.
"""

from __future__ import annotations

import random
import secrets
import tarfile
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..digests.engines import LocalEngine, run_tasks
from ..digests.shards.tracking import engine_of, refs_of_record
from ..digests.shards import (
    SHARD_KIND,
    ShardError,
    ShardFailure,
    ShardRef,
    ShardResult,
    hash_shard,
    sample_count,
    sample_leaf,
    shard_tree,
    tree_file_name,
)
from ..errors import ConfigError, ProvenanceError
from ..files import SHARD_TREES_DIR
from ..merkle import Leaf, MerkleTree
from ..merkle.reference import verify_nested


@dataclass(frozen=True)
class ShardChange:
    """One shard that does not match its anchored leaf, and what was found inside it."""

    shard: str
    change: str  # "changed", "missing from the source", "not in the anchored tree", "unreadable"
    detail: str
    samples: tuple[str, ...] = ()  # "index name: what changed", when they could be named

    def describe(self) -> str:
        inside = f"; changed sample(s): {', '.join(self.samples)}" if self.samples else ""
        return f"shard {self.shard} {self.change}: {self.detail}{inside}"


@dataclass(frozen=True)
class DatasetCheck:
    shards: int
    samples: int
    changes: tuple[ShardChange, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.changes

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "shards": self.shards, "samples": self.samples, "seconds": round(self.seconds, 3),
                "changes": [{"shard": c.shard, "change": c.change, "detail": c.detail, "samples": list(c.samples)} for c in self.changes]}


@dataclass(frozen=True)
class SpotCheck:
    seed: int
    drawn: tuple[tuple[str, int, bool, str], ...]  # (shard, index, ok, detail)
    total_samples: int
    seconds: float
    capped: bool = False  # K asked for was above the sample count
    every: bool = False  # K >= the sample count: each sample drawn once, none missed
    miss_1pct: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "miss_1pct", miss_probability(0.01, len(self.drawn)))

    @property
    def ok(self) -> bool:
        return all(ok for _, _, ok, _ in self.drawn)

    def statement(self) -> str:
        k = len(self.drawn)
        if self.every:
            cap = f"K capped at the sample count {self.total_samples}: " if self.capped else ""
            return f"{cap}each of the {self.total_samples} samples checked once, so none changed can be missed"
        cap = ""
        return (f"{cap}{k} samples drawn uniformly from {self.total_samples} (seed {self.seed}): if a fraction p of samples "
                f"had been changed, all {k} draws would miss them with probability (1-p)^{k}: "
                f"{self.miss_1pct:.3g} for p = 1%, {miss_probability(0.001, k):.3g} for p = 0.1%")

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "seed": self.seed, "k": len(self.drawn), "total_samples": self.total_samples,
                "miss_probability_p_1pct": self.miss_1pct, "statement": self.statement(), "seconds": round(self.seconds, 3),
                "samples": [{"shard": s, "index": i, "ok": ok, "detail": d} for s, i, ok, d in self.drawn]}


def miss_probability(p: float, k: int) -> float:
    """The chance that k uniform draws all miss a tampered fraction p of the samples."""
    return (1.0 - p) ** k


def verify_shards(refs: Sequence[ShardRef], recorded: Sequence[Leaf], engine: Any = None,
                  *, leaves_dir: str | Path | None = None) -> DatasetCheck:
    """Re-hash every shard on `engine` and compare with the anchored `data.shard` leaves."""
    started = time.perf_counter()
    engine = engine or LocalEngine()
    expected = {leaf.name: leaf for leaf in recorded if leaf.kind == SHARD_KIND}
    by_id = {r.id: r for r in refs}
    changes: list[ShardChange] = []
    found: dict[str, ShardResult] = {}
    with run_tasks(engine, hash_shard, list(refs), None) as answers:
        for result in answers:
            if isinstance(result, ShardFailure):
                changes.append(ShardChange(result.id, "unreadable", result.message))
            else:
                found[result.id] = result
    changed = []
    for shard_id in sorted(set(expected) | set(by_id)):
        leaf, got = expected.get(shard_id), found.get(shard_id)
        if leaf is None:
            changes.append(ShardChange(shard_id, "not in the anchored tree", "the source has a shard the run never committed to"))
        elif shard_id not in by_id:
            changes.append(ShardChange(shard_id, "missing from the source", f"anchored with {leaf.size} samples, root 0x{leaf.digest.hex()}"))
        elif got is not None and (got.root != leaf.digest or got.count != leaf.size):
            changed.append(shard_id)
    stored = None if leaves_dir is None else str(leaves_dir)
    # results come back in completion order on a cluster: each names its shard
    diffs = {}
    if changed:
        with run_tasks(engine, _diff_task, [(by_id[s], expected[s].digest, stored) for s in changed]) as answers:
            diffs = {shard_id: (named, why) for shard_id, named, why in answers}
    for shard_id in changed:
        leaf, got = expected[shard_id], found[shard_id]
        detail = f"anchored root 0x{leaf.digest.hex()} of {leaf.size} samples, found 0x{got.root.hex()} of {got.count}"
        samples, why = diffs[shard_id]
        changes.append(ShardChange(shard_id, "changed", detail + (f" ({why})" if why else ""), tuple(samples)))
    changes.sort(key=lambda c: c.shard)
    return DatasetCheck(len(refs), sum(r.count for r in found.values()), tuple(changes), time.perf_counter() - started)


def spot_check(refs: Sequence[ShardRef], tree: MerkleTree, k: int, seed: int | None = None, engine: Any = None,
               *, leaves_dir: str | Path | None = None) -> SpotCheck:
    """Draw `k` samples uniformly from the shards `tree` (the anchored tree holding the
    `data.shard` leaves) commits to, re-hash them on `engine` and check their nested proofs.
    With the shards' kept trees (`leaves_dir`), only the drawn samples are read."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"spot check: expected a number of samples >= 1, found {k!r}")
    started = time.perf_counter()
    seed = secrets.randbits(32) if seed is None else seed
    shard_leaves = sorted((v for v in tree.values if v.kind == SHARD_KIND), key=lambda v: v.name)
    if not shard_leaves:
        raise ConfigError("spot check: expected data.shard leaves in the anchored tree, found none")
    ends = list(accumulate(v.size for v in shard_leaves))
    if ends[-1] < 1:
        raise ConfigError("spot check: expected committed samples to draw from, found 0")
    capped, every = k > ends[-1], k >= ends[-1]  # as many draws as samples or more: each sample once
    rng = random.Random(seed)
    picks: dict[str, list[int]] = {}
    draws = []
    for g in range(ends[-1]) if every else (rng.randrange(ends[-1]) for _ in range(k)):
        s = bisect_right(ends, g)
        index = g - (ends[s - 1] if s else 0)
        draws.append((shard_leaves[s].name, index))
        picks.setdefault(shard_leaves[s].name, []).append(index)
    by_id = {r.id: r for r in refs}
    leaf_of = {v.name: v for v in shard_leaves}
    results: dict[tuple[str, int], tuple[bool, str]] = {}
    for shard_id in picks:
        if shard_id not in by_id:
            for i in picks[shard_id]:
                results[(shard_id, i)] = (False, "shard missing from the source")
    present = [s for s in picks if s in by_id]
    stored = None if leaves_dir is None else str(leaves_dir)
    jobs = [(by_id[s], sorted(set(picks[s])), stored, leaf_of[s].digest) for s in present]
    with run_tasks(engine or LocalEngine(), _sample_task, jobs) as answers:
        answered = dict(answers)
    for shard_id, answer in answered.items():
        shard_leaf = leaf_of[shard_id]
        shard_proof = tree.proof(shard_leaf)
        if isinstance(answer, ShardFailure):
            for i in picks[shard_id]:
                results[(shard_id, i)] = (False, answer.message)
            continue
        for index, sample, proof, how in answer:
            if sample is None:
                results[(shard_id, index)] = (False, f"index {index} is past the shard's end")
                continue
            ok = verify_nested(tree.root, shard_leaf, shard_proof, sample, proof)
            results[(shard_id, index)] = (ok, f"{sample.label} ({how}): nested proof {'holds' if ok else 'does NOT hold'}")
    drawn = tuple((s, i, *results[(s, i)]) for s, i in draws)
    return SpotCheck(seed, drawn, ends[-1], time.perf_counter() - started, capped, every)


_draw = spot_check  # check_run_shards' argument `spot_check` (a count) hides the function


def _sample_task(job: tuple[ShardRef, list[int], str | None, bytes]) -> tuple[str, Any]:
    """Worker side of the spot check: the drawn samples' re-hashed leaves and their proofs to
    the shard root. With the shard's kept tree (trusted only if it hashes to the anchored root)
    only the drawn samples are read and hashed; without it the whole shard is re-hashed."""
    ref, indices, stored, anchored_root = job
    kept, _ = _kept_tree(ref, stored, anchored_root)
    try:
        if kept is not None:
            n = len(kept)
            return ref.id, [(i, sample_leaf(ref, i), tuple(kept.proof(i)), "sample re-hashed") if i < n else (i, None, (), "")
                            for i in indices]
        tree = shard_tree(ref)
    except ShardError as e:
        return ref.id, ShardFailure(ref.id, str(e))
    values = tree.values
    return ref.id, [(i, values[i], tuple(tree.proof(i)), "shard re-hashed") if i < len(values) else (i, None, (), "")
                    for i in indices]


def _kept_tree(ref: ShardRef, stored: str | None, anchored_root: bytes) -> tuple[MerkleTree | None, str]:
    """The shard's tree as kept at hashing time, if there is one that hashes to the anchored root."""
    from ..merkle import load_dump_file

    if stored is None:
        return None, "no kept shard trees (--leaves-dir) to name the changed sample"
    path = Path(stored) / tree_file_name(ref.id)
    if not path.is_file():
        return None, f"no kept tree {path.name}"
    try:
        kept = load_dump_file(str(path))
    except Exception as e:  # noqa: BLE001 - a damaged dump only costs the shortcut or the sample's name
        return None, f"kept tree {path.name} unusable: {' '.join(str(e).split())[:120]}"
    if kept.root != anchored_root:
        return None, f"kept tree {path.name} does not hash to the anchored root, so it is not used"
    return kept, ""


def _diff_task(job: tuple[ShardRef, bytes, str | None]) -> tuple[str, list[str], str]:
    """Worker side of naming changed samples: re-hash the shard and compare, position by
    position, with its kept tree (trusted only if its root is the anchored one)."""
    ref, anchored_root, stored = job
    kept, why = _kept_tree(ref, stored, anchored_root)
    if kept is None:
        return ref.id, [], why
    try:
        now = shard_tree(ref).values
    except ShardError as e:
        return ref.id, [], str(e)
    before = kept.values
    named = []
    for i in range(max(len(before), len(now))):
        a = before[i] if i < len(before) else None
        b = now[i] if i < len(now) else None
        if a == b:
            continue
        if a is None:
            named.append(f"{i} {b.name}: added")
        elif b is None:
            named.append(f"{i} {a.name}: removed")
        elif a.name != b.name:
            named.append(f"{i} {a.name}: now {b.name}")
        else:
            named.append(f"{i} {a.name}: digest 0x{a.digest.hex()[:16]}.. -> 0x{b.digest.hex()[:16]}..")
    return ref.id, named, ""


def check_run_shards(record: Any, run_dir: Path, data: tuple[Any, Any] | None = None, *, engine: Any = None,
                     spot_check: int | None = None, seed: int | None = None,
                     descriptor: Mapping[str, Any] | None = None) -> list[tuple[str, bool, str]]:
    """The verifier's checks of a sharded run's data, as (name, ok, detail): every shard
    re-hashed on `engine` (changed shards named, and their changed samples where the run folder
    keeps the shard trees), or, with `spot_check=K`, K seeded random samples with their nested
    proofs against the tree that holds the `data.shard` leaves."""
    holders = [s for s in record.stages if any(leaf.kind == SHARD_KIND for leaf in s.leaves)]
    if not holders:
        return []
    stage = holders[0]
    recorded = [leaf for leaf in stage.leaves if leaf.kind == SHARD_KIND]
    runner, opened = engine_of(engine)
    try:
        try:
            refs = refs_of_record(descriptor if descriptor is not None else record.artifacts.get("dataset", {}), data)
        except ProvenanceError as e:  # e.g. in-memory data not given again: a failed check, not a crash
            return [(f"{stage.name} data.shard", False, f"cannot re-hash {len(recorded)} shards: {e}")]
        if spot_check is not None:
            # A draw among the committed samples never meets an added one: the shard list and
            # every shard's count are committed, so compare them first (a listing, no hashing).
            listed = _listing_differences(refs, recorded)
            if listed:
                return [(f"{stage.name} data.shard spot check", False, "the source's shards differ from the committed ones "
                         "before any draw: " + "; ".join(listed[:5]) + (" ..." if len(listed) > 5 else ""))]
            check = _draw(refs, stage.tree(), spot_check, seed, runner, leaves_dir=Path(run_dir) / SHARD_TREES_DIR)
            bad = [f"{s}/{i}: {d}" for s, i, ok, d in check.drawn if not ok]
            alone = sum(1 for *_, d in check.drawn if "(sample re-hashed)" in d)
            how = f"; {alone} of {len(check.drawn)} draws read alone through the kept shard trees, the rest by re-hashing their shard"
            return [(f"{stage.name} data.shard spot check", check.ok,
                     check.statement() + how + ("" if check.ok else "; FAILED: " + "; ".join(bad[:5])))]
        result = verify_shards(refs, recorded, runner, leaves_dir=Path(run_dir) / SHARD_TREES_DIR)
    finally:
        if opened:
            runner.close()
    if result.ok:
        return [(f"{stage.name} data.shard", True, f"{result.shards} shards ({result.samples} samples) re-hashed on engine "
                 f"{runner.name}, all equal")]
    return [(f"{stage.name} data.shard", False, f"{len(result.changes)} of {len(recorded)} shards differ: "
             + "; ".join(c.describe() for c in result.changes[:5]) + (" ..." if len(result.changes) > 5 else ""))]


def _listing_differences(refs: Sequence[ShardRef], recorded: Sequence[Leaf]) -> list[str]:
    """What a listing of the source shows against the committed `data.shard` leaves: shards
    added or removed, and shards whose sample count is not the committed one."""
    committed = {leaf.name: leaf.size for leaf in recorded}
    found = {ref.id: ref for ref in refs}
    named = [f"shard {name} added" for name in sorted(found.keys() - committed.keys())]
    named += [f"shard {name} missing" for name in sorted(committed.keys() - found.keys())]
    for name in sorted(found.keys() & committed.keys()):
        try:
            count = sample_count(found[name])
        except (OSError, ValueError, ShardError, tarfile.TarError) as e:
            named.append(f"shard {name}: cannot list its samples ({' '.join(str(e).split())[:80]})")
            continue
        if count != committed[name]:
            named.append(f"shard {name}: {count} samples, {committed[name]} committed")
    return named
