"""The registry of leaf kinds: for every kind a run's trees hold, how its leaves are made from
the artifact when the tracker builds a tree (`make`), and how verification makes them again from
the run folder alone (`rehash`). The tracker and `provenance.verification.verify` both read this
table, so a new artifact type is one row here (its `make`, its `rehash`) plus the tracker's call
that hands it the artifact; a kind with no row fails verification instead of passing unchecked.

`make` takes the kind's own artifact (a dataset, a state dict, a config mapping, ...) and returns
its leaves; `rehash(files, stage)` returns the leaves a tree should hold, from what a verifier has
(`RunFiles`: the record, the run folder, any in-memory data). `rehash` None: the kind is checked by
a verification step of its own (chain links, data shards). `per_run`: every tree holding the
kind holds the same leaves, re-hashed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..merkle.kinds import CODE, CONFIG, DATA_SAMPLE, ENVIRONMENT, METRICS, RESULTS
from ..digests import context, datasets, models, privacy, train_state
from ..digests.shards import tracking as shard_tracking
from ..digests.hashing import dataset_leaves
from ..errors import FormatError, ProvenanceError
from ..files import CONFIG_FILE, read_file, read_json
from ..merkle import Leaf
from . import CHAIN_PREV, IDENTITY_ETHEREUM, RUN_ID, RUN_NONCE, Record, Stage, ethereum_identity_leaf, nonce_leaf, run_id_leaf



@dataclass(frozen=True)
class RunFiles:
    """What a re-hash may read. `note(name, ok, detail)` adds a check of its own to the report
    (the config file's check that it equals the record's config)."""

    record: Record
    run_dir: Path
    data: tuple[Any, Any] | None
    note: Callable[[str, bool, str], Any]
    dataset: Mapping[str, Any] | None = None  # the descriptor to re-load from (the record's, or re-pointed by `--data`)


@dataclass(frozen=True)
class LeafKind:
    kind: str
    trees: str  # which trees hold it, for readers
    make: Callable[..., list[Leaf]] | None  # the artifact -> its leaves (None: made elsewhere, `Stage.build` or shard_tracking)
    rehash: Callable[[RunFiles, Stage], list[Leaf]] | None  # None: checked by a verification step of its own
    per_run: bool = False


def make(kind: str, *artifact: Any, **options: Any) -> list[Leaf]:
    """The leaves of `kind` for `artifact`, as the tracker puts them in a tree."""
    row = KINDS[kind]
    if row.make is None:
        raise ProvenanceError(f"leaf kind {kind!r}: expected a kind made from an artifact, found one made by Stage.build (or by shard_tracking, for shards)")
    return row.make(*artifact, **options)


# ---------------------------------------------------------------- making leaves (the tracker)


def data_leaves(train: Any, test: Any = None) -> list[Leaf]:
    """One leaf per sample, `data.sample:train/000123` (test samples under `test/`)."""
    return dataset_leaves(train, "train") + (dataset_leaves(test, "test") if test is not None else [])


def value_leaves(kind: str) -> Callable[[Mapping[str, Any], context.Encode], list[Leaf]]:
    return lambda values, encode: context.mapping_leaves(kind, values, encode)


# ---------------------------------------------------------------- making them again (verification)


def _data(files: RunFiles, stage: Stage) -> list[Leaf]:
    record = files.record
    descriptor = files.dataset if files.dataset is not None else record.artifacts.get("dataset", {"source": "custom"})
    train, test = files.data if files.data is not None else datasets.load(descriptor)
    return data_leaves(train, test)


def _model_file(files: RunFiles, stage: Stage) -> tuple[str, Path]:
    stages = files.record.artifacts.get("stages", {})
    entry = stages.get(stage.name, {}) if isinstance(stages, dict) else {}
    name = entry.get("model") if isinstance(entry, dict) else None
    if not name or not isinstance(name, str):
        raise ProvenanceError(f"the record names no model file for tree {stage.name!r}")
    return name, files.run_dir / name


def _recorded_size(stage: Stage, name: str) -> int:
    """The size the tree records for the model file `name`: no more is ever read (+1 byte, to
    see it grew), whatever the folder holds there (a link to /dev/zero, a huge file)."""
    sizes = [leaf.size for leaf in stage.leaves if leaf.kind == models.FILE_KIND and leaf.name == name]
    if sizes:
        return max(sizes)
    return sum(leaf.size for leaf in stage.leaves if leaf.kind == models.PARAM_KIND) + (16 << 20)  # + a header


def _params(files: RunFiles, stage: Stage) -> list[Leaf]:
    name, path = _model_file(files, stage)
    read_file(path, "model file", limit=0, within=files.run_dir)  # raises, naming what is wrong with it
    try:
        return models.weight_leaves(models.load_weights(path, limit=_recorded_size(stage, name), within=files.run_dir))
    except ProvenanceError:
        return []  # unreadable: every tensor leaf is reported missing, the file leaf as changed


def _file(files: RunFiles, stage: Stage) -> list[Leaf]:
    name, path = _model_file(files, stage)
    return [models.file_leaf(name, read_file(path, "model file", limit=_recorded_size(stage, name), within=files.run_dir))]


def _config(files: RunFiles, stage: Stage) -> list[Leaf]:
    record = files.record
    path = files.run_dir / str(record.artifacts.get("config", CONFIG_FILE))
    config = read_json(path, "config file", within=files.run_dir, max_bytes=16 << 20)
    if not isinstance(config, dict):
        raise ProvenanceError(f"config file {path}: expected a JSON object, found {type(config).__name__}")
    differing = sorted(k for k in config.keys() | record.config.keys() if config.get(k) != record.config.get(k))
    files.note("config file equals the record's config", not differing,
               "equal" if not differing else "keys differ: " + ", ".join(differing))
    return context.config_leaves(config, record.value_encoding)


def has_privacy(stage: Stage) -> bool:
    return any(leaf.kind == privacy.KIND for leaf in stage.leaves)


def plain_metrics(stage: Stage) -> dict[str, Any]:
    """A stage's metrics or results without the DP accounting, which has leaves of its own."""
    return {k: v for k, v in stage.metrics.items() if not (has_privacy(stage) and k == privacy.METRICS_KEY)}


def accounting_json(stage: Stage) -> dict[str, Any]:
    value = stage.metrics.get(privacy.METRICS_KEY)
    if not isinstance(value, dict):
        raise FormatError(f"tree {stage.name!r} has privacy leaves but its metrics hold no accounting object under "
                          f"{privacy.METRICS_KEY!r} (found {type(value).__name__})")
    return value


def _identity(files: RunFiles, stage: Stage) -> list[Leaf]:
    """The identity leaf re-derived from its name (the address); only the pre tree has one."""
    if stage.name != "pre":
        raise ProvenanceError(f"an {IDENTITY_ETHEREUM} leaf belongs in the pre tree only, found one in {stage.name!r}")
    return [ethereum_identity_leaf(name) for name in stage.identities()]


def _nonce(files: RunFiles, stage: Stage) -> list[Leaf]:
    """The nonce is random: its leaf must have the nonce's shape (name, 32 bytes), once, in pre."""
    found = [leaf for leaf in stage.leaves if leaf.kind == RUN_NONCE]
    if stage.name != "pre" or len(found) != 1:
        raise ProvenanceError(f"expected one {RUN_NONCE} leaf, in the pre tree, found {len(found)} in {stage.name!r}")
    return [nonce_leaf(found[0].digest)]


def _audit_files(kind: str) -> Callable[[RunFiles, Stage], list[Leaf]]:
    """Leaves of `kind` re-made from the state and epoch files the stage's file leaves name
    (`provenance.digests.train_state`: bounded reads, names confined to `audit/`)."""
    def rehash(files: RunFiles, stage: Stage) -> list[Leaf]:
        found: list[Leaf] = []
        for leaf in stage.leaves:
            if leaf.kind in (train_state.STATE_KIND, train_state.ORDER_KIND):
                found += [x for x in train_state.rehash(files.run_dir, leaf) if x.kind == kind]
        return found
    return rehash


def _replay(files: RunFiles, stage: Stage) -> list[Leaf]:
    values = files.record.artifacts.get("stages", {}).get(stage.name, {}).get("replay")
    if not isinstance(values, dict):
        raise FormatError(f"tree {stage.name!r} has {train_state.REPLAY_KIND} leaves but the record holds no replay settings for it")
    return context.mapping_leaves(train_state.REPLAY_KIND, values, files.record.value_encoding)


def _run_id(files: RunFiles, stage: Stage) -> list[Leaf]:
    """The run id leaf, made again from the record's run id; only the pre tree has one."""
    if stage.name != "pre":
        raise ProvenanceError(f"a {RUN_ID} leaf belongs in the pre tree only, found one in {stage.name!r}")
    return [run_id_leaf(files.record.run_id)]


KINDS: dict[str, LeafKind] = {row.kind: row for row in (
    LeafKind(DATA_SAMPLE, "pre", data_leaves, _data, per_run=True),
    # made by `shard_tracking.shard_leaves_of` in track_data (which also needs the source it returns);
    # re-hashed by `shard_tracking.check_run_shards` (all, or a spot check)
    LeafKind(shard_tracking.SHARD_KIND, "pre", None, None),
    LeafKind(models.PARAM_KIND, "pre, epoch-N, post", models.weight_leaves, _params),
    LeafKind(models.FILE_KIND, "pre, epoch-N, post", lambda name, data: [models.file_leaf(name, data)], _file),
    LeafKind(CONFIG, "pre", context.config_leaves, _config, per_run=True),
    LeafKind(CODE, "pre", context.code_leaves, lambda f, s: context.code_leaves(f.record.code), per_run=True),
    LeafKind(ENVIRONMENT, "pre", context.environment_leaves, lambda f, s: context.environment_leaves(f.record.environment), per_run=True),
    LeafKind(METRICS, "epoch-N", value_leaves(METRICS),
             lambda f, s: context.mapping_leaves(METRICS, plain_metrics(s), f.record.value_encoding)),
    LeafKind(RESULTS, "post", value_leaves(RESULTS),
             lambda f, s: context.mapping_leaves(RESULTS, plain_metrics(s), f.record.value_encoding)),
    LeafKind(privacy.KIND, "epoch-N, post (DP runs)", privacy.leaves,
             lambda f, s: privacy.leaves(accounting_json(s), f.record.value_encoding)),
    LeafKind(IDENTITY_ETHEREUM, "pre", lambda address: [ethereum_identity_leaf(address)], _identity),
    LeafKind(RUN_NONCE, "pre", lambda nonce: [nonce_leaf(nonce)], _nonce),
    # proof of training (`provenance.training.audit`): what a replay of each epoch needs
    LeafKind(train_state.STATE_KIND, "epoch-N (audited runs)", None, _audit_files(train_state.STATE_KIND)),
    LeafKind(train_state.ORDER_KIND, "epoch-N (audited runs)", None, _audit_files(train_state.ORDER_KIND)),
    LeafKind(train_state.OPTIM_KIND, "epoch-N (audited runs)", None, _audit_files(train_state.OPTIM_KIND)),
    LeafKind(train_state.RNG_KIND, "epoch-N (audited runs)", None, _audit_files(train_state.RNG_KIND)),
    LeafKind(train_state.REPLAY_KIND, "epoch-N (audited runs)", value_leaves(train_state.REPLAY_KIND), _replay),
    LeafKind(RUN_ID, "pre", lambda run_id: [run_id_leaf(run_id)], _run_id),
    LeafKind(CHAIN_PREV, "every tree after pre", None, None),  # made by `Stage.build`, checked by verify's chain step
)}
