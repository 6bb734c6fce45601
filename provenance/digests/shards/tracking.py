"""What the tracker and the verifier call for sharded data: the `data.shard` leaves of a run's
dataset (in memory or a sharded source on disk), hashed on an engine, and the descriptor that
lets a verifier find the same shards again.

A run's dataset descriptor gains `"shard_size"` (and, for a source on disk, is the `shards`
descriptor of `provenance.digests.shards.discover`); its tree then holds one `data.shard` leaf per shard
instead of one `data.sample` leaf per sample.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ..engines import DaskEngine, LocalEngine, hash_dataset, open_engine
from ...errors import ConfigError
from ...merkle import Leaf
from ...merkle.reference import SHARD_KIND
from .refs import DEFAULT_SHARD_SIZE, SOURCE, ShardRef
from .sources import array_shards, discover, from_descriptor
from ...files import SHARD_TREES_DIR


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
    from .. import datasets

    train, test = data if data is not None else datasets.load(descriptor)
    size = int(descriptor.get("shard_size", DEFAULT_SHARD_SIZE))
    return array_shards(*train, "train", size) + (array_shards(*test, "test", size) if test is not None else [])
