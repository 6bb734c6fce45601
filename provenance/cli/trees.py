"""`provenance hash | tree`: digests of files, and the Merkle trees of a run with their leaves."""

from __future__ import annotations

from pathlib import Path

import click

from ..files import atomic_write_json
from ..digests.hashing import file_leaves
from ..errors import ConfigError
from ..record import Record, Stage
from .common import RECORD_FILE, base_dir_option, emit, json_option, resolve_run


@click.command("hash")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--kind", default="file", show_default=True, help="Leaf kind to give the files.")
@json_option
def hash_command(paths, kind, as_json) -> None:
    """blake3 digests of files (a folder: every file in it), as provenance leaves."""
    leaves = [leaf for path in paths for leaf in file_leaves(path, kind=kind)]
    emit(as_json, [leaf.to_json() for leaf in leaves],
         lambda: "\n".join(f"0x{x.digest.hex()}  {x.size:>12}  {x.name}" for x in leaves))


@click.command("tree")
@click.argument("run")
@click.option("--stage", default=None, help="Which tree (default: every tree of the run).")
@click.option("--leaves", "list_leaves", is_flag=True, help="List the tree's leaves (kind, digest, size, name); needs --stage.")
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
              help="Only the leaves of this kind, e.g. data.sample or model.param (repeatable; implies --leaves).")
@click.option("--dump", "dump_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the tree as a provenance-merkle/v1 dump (OpenZeppelin standard-v1 layout); needs --stage.")
@base_dir_option
@json_option
def tree_command(run, stage, list_leaves, kinds, dump_path, base_dir, as_json) -> None:
    """Roots, leaf counts and chain links of RUN's trees; with --stage S --leaves, the leaves of
    tree S (filtered by --kind)."""
    record = Record.load(resolve_run(run, base_dir) / RECORD_FILE)
    for flag, given in (("--dump", dump_path is not None), ("--leaves", list_leaves), ("--kind", bool(kinds))):
        if given and stage is None:
            raise click.UsageError(f"{flag} needs --stage: one tree at a time")
    list_leaves = list_leaves or bool(kinds)  # --kind alone asks for those leaves
    stages = [_stage(record, stage)] if stage else record.stages
    if dump_path is not None:
        atomic_write_json(dump_path, stages[0].tree().dump())
    if list_leaves:
        _print_leaves(stages[0], kinds, as_json)
        return
    data = [{"stage": s.name, "root": "0x" + s.root.hex(), "prev": s.prev, "leaves": len(s.leaves)} for s in stages]
    emit(as_json, data, lambda: "\n".join(f"{d['stage']:<9} {d['root']}  {d['leaves']:>7} leaves"
                                          + (f"  follows {d['prev']}" if d["prev"] else "") for d in data))


def _stage(record: Record, name: str) -> Stage:
    names = [s.name for s in record.stages]
    if name not in names:
        raise ConfigError(f"--stage: expected one of {', '.join(names) or '(no trees)'}, found {name!r}")
    return record.stage(name)


def _print_leaves(stage: Stage, kinds: tuple[str, ...], as_json: bool) -> None:
    present = sorted({leaf.kind for leaf in stage.leaves})
    for kind in kinds:
        if kind not in present:
            raise ConfigError(f"--kind: expected one of {', '.join(present)} (the kinds in tree {stage.name}), found {kind!r}")
    leaves = [leaf for leaf in stage.leaves if not kinds or leaf.kind in kinds]
    data = {"stage": stage.name, "root": "0x" + stage.root.hex(), "kinds": list(kinds) or present,
            "leaves": [{"kind": x.kind, "name": x.name, "digest": "0x" + x.digest.hex(), "size": x.size} for x in leaves]}
    width = max((len(x.kind) for x in leaves), default=0)
    emit(as_json, data, lambda: "\n".join(f"{x.kind:<{width}}  0x{x.digest.hex()}  {x.size:>10}  {x.name}" for x in leaves))
