"""`provenance hash | tree`: digests of files and the Merkle trees of a run."""

from __future__ import annotations

from pathlib import Path

import click

from ..files import atomic_write_json
from ..digests.hashing import file_leaves
from ..record import Record
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
@click.option("--dump", "dump_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the tree as a provenance-merkle/v1 dump (OpenZeppelin standard-v1 layout); needs --stage.")
@base_dir_option
@json_option
def tree_command(run, stage, dump_path, base_dir, as_json) -> None:
    """Roots, leaf counts and chain links of RUN's trees."""
    record = Record.load(resolve_run(run, base_dir) / RECORD_FILE)
    stages = [record.stage(stage)] if stage else record.stages
    if dump_path is not None:
        if stage is None:
            raise click.UsageError("--dump needs --stage: one dump per tree")
        atomic_write_json(dump_path, stages[0].tree().dump())
    data = [{"stage": s.name, "root": "0x" + s.root.hex(), "prev": s.prev, "leaves": len(s.leaves)} for s in stages]
    emit(as_json, data, lambda: "\n".join(f"{d['stage']:<9} {d['root']}  {d['leaves']:>7} leaves"
                                          + (f"  follows {d['prev']}" if d["prev"] else "") for d in data))
