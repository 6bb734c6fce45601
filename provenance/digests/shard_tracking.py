"""What the tracker and the verifier call for sharded data: the `data.shard` leaves of a run's
dataset (in memory or a sharded source on disk), hashed on an engine, and the descriptor that
lets a verifier find the same shards again.

A run's dataset descriptor gains `"shard_size"` (and, for a source on disk, is the `shards`
descriptor of `provenance.digests.shards.discover`); its tree then holds one `data.shard` leaf per shard
instead of one `data.sample` leaf per sample.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from .engines import DaskEngine, LocalEngine, hash_dataset, open_engine
from ..errors import ConfigError, ProvenanceError
from ..merkle import Leaf
from .shards import DEFAULT_SHARD_SIZE, SHARD_KIND, SOURCE, ShardRef, array_shards, discover, from_descriptor
from ..files import SHARD_TREES_DIR


def engine_of(engine: Any) -> tuple[Any, bool]:
    """(engine object, whether we opened it and must close it) for a name, an engine or None."""
    if engine is None or isinstance(engine, (LocalEngine, DaskEngine)):
        return engine or LocalEngine(), False
    if isinstance(engine, str):
        return open_engine(engine), True
    raise ConfigError(f"engine: expected 'local', 'dask' or an engine object, found {type(engine).__name__}")


def refs_for(train_data: Any, test_data: Any, source: Mapping[str, Any] | None,
             shard_size: int | None) -> tuple[dict[str, Any], list[ShardRef]]:
    """The shards of a run's data and its descriptor: a path is a sharded source on disk;
    `(features, labels)` arrays are cut into slices per split."""
    size = DEFAULT_SHARD_SIZE if shard_size is None else shard_size
    if isinstance(train_data, (str, os.PathLike)):
        if test_data is not None:
            raise ConfigError("sharded source on disk: expected one dataset path and no test data, found both")
        return discover(Path(train_data), "auto", size)
    descriptor = dict(source or {"source": "custom"}) | {"shard_size": size}
    refs = array_shards(*train_data, "train", size)
    if test_data is not None:
        refs += array_shards(*test_data, "test", size)
    return descriptor, refs


def shard_leaves_of(train_data: Any, test_data: Any, source: Mapping[str, Any] | None, *, engine: Any = None,
                    shard_size: int | None = None, run_dir: Path | None = None) -> tuple[list[Leaf], dict[str, Any]]:
    """The `data.shard` leaves of a run's data, hashed on `engine`, and its descriptor. With
    `run_dir`, the workers keep each shard's tree in `run_dir/shards/` (to name changed samples)."""
    descriptor, refs = refs_for(train_data, test_data, source, shard_size)
    runner, opened = engine_of(engine)
    try:
        result = hash_dataset(refs, runner, leaves_dir=None if run_dir is None else Path(run_dir) / SHARD_TREES_DIR)
    finally:
        if opened:
            runner.close()
    return result.leaves, descriptor


def counts(leaves: list[Leaf]) -> dict[str, int]:
    """Sample counts of a run's data leaves, per-sample or per-shard."""
    train = test = 0
    for leaf in leaves:
        if leaf.kind == SHARD_KIND:  # in-memory test slices are `test-000000`; shards on disk are training data
            test, train = (test + leaf.size, train) if leaf.name.startswith("test-") else (test, train + leaf.size)
        elif leaf.name.startswith("train/"):
            train += 1
        else:
            test += 1
    return {"train_samples": train, "test_samples": test}


def refs_of_record(descriptor: Mapping[str, Any], data: tuple[Any, Any] | None = None) -> list[ShardRef]:
    """The shards a run's descriptor names (re-loading in-memory sets by their source)."""
    if descriptor.get("source") == SOURCE:
        return from_descriptor(dict(descriptor))
    from . import datasets

    train, test = data if data is not None else datasets.load(descriptor)
    size = int(descriptor.get("shard_size", DEFAULT_SHARD_SIZE))
    return array_shards(*train, "train", size) + (array_shards(*test, "test", size) if test is not None else [])


def check_run_shards(record: Any, run_dir: Path, data: tuple[Any, Any] | None = None, *, engine: Any = None,
                     spot_check: int | None = None, seed: int | None = None,
                     descriptor: Mapping[str, Any] | None = None) -> list[tuple[str, bool, str]]:
    """The verifier's checks of a sharded run's data, as (name, ok, detail): every shard
    re-hashed on `engine` (changed shards named, and their changed samples where the run folder
    keeps the shard trees), or, with `spot_check=K`, K seeded random samples with their nested
    proofs against the tree that holds the `data.shard` leaves."""
    from .shard_verify import spot_check as draw, verify_shards

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
            check = draw(refs, stage.tree(), spot_check, seed, runner, leaves_dir=Path(run_dir) / SHARD_TREES_DIR)
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
    from .shards import ShardError, sample_count

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
