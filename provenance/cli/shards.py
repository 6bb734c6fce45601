"""`provenance hash-dataset`: a sharded dataset's nested root, hashed in-process or on Dask."""

from __future__ import annotations

from pathlib import Path

import click

from ..digests.engines import ENGINES, hash_dataset, open_engine  # noqa: F401 - open_engine is shared with verify
from ..files import atomic_write_json
from ..digests.shards import DEFAULT_SHARD_SIZE, FORMATS, discover
from .common import emit, json_option

engine_option = click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
                             help="Where shards are hashed: this process, or a Dask distributed cluster.")
scheduler_option = click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
                                help="Dask scheduler to use (--engine dask); default: a local cluster of --workers processes.")
workers_option = click.option("--workers", type=click.IntRange(min=1), default=None,
                              help="Worker processes of the local Dask cluster started for this command (default 2).")



def shard_options(command):
    """`provenance verify`'s options for sharded data: the engine and the spot check."""
    for option in reversed([
        engine_option, scheduler_option, workers_option,
        click.option("--spot-check", type=click.IntRange(min=1), default=None, metavar="K",
                     help="Re-hash only K random samples of sharded data, each with its nested proof (the seed is printed)."),
        click.option("--seed", type=int, default=None, help="Seed of the --spot-check draw (default: random, printed)."),
    ]):
        command = option(command)
    return command


@click.command("hash-dataset")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", *[f for f in FORMATS if f != "arrays"]]), default="auto",
              show_default=True, help="How SOURCE is cut into shards (auto: by its files).")
@engine_option
@scheduler_option
@workers_option
@click.option("--shard-size", type=click.IntRange(min=1), default=DEFAULT_SHARD_SIZE, show_default=True,
              help="Samples per shard where the source does not fix its shards (a flat folder of files, hf).")
@click.option("--leaves-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also keep each shard's tree here (written by the workers), to name changed samples later.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the run-level tree (one data.shard leaf per shard) and the dataset descriptor here.")
@json_option
def hash_dataset_command(source, fmt, engine, scheduler, workers, shard_size, leaves_dir, output, as_json) -> None:
    """Hash SOURCE shard by shard: each shard a standard tree of its samples, the dataset's
    root the tree of one data.shard leaf per shard. Exits 2 naming the first unreadable shard."""
    descriptor, refs = discover(source, fmt, shard_size)
    with open_engine(engine, scheduler=scheduler, workers=workers) as runner:
        result = hash_dataset(refs, runner, leaves_dir=leaves_dir)
    data = {"engine": engine, "dataset": descriptor} | result.to_json()
    if output is not None:
        atomic_write_json(output, {"dataset": descriptor, "tree": result.tree.dump()})
        data["output"] = str(output)
    emit(as_json, data, lambda: (
        f"root 0x{result.root.hex()}\n"
        f"{len(result.shards)} shards, {result.samples} samples, {result.nbytes} bytes ({descriptor['format']}, engine {engine})\n"
        f"{result.seconds:.2f} s: {result.samples / max(result.seconds, 1e-9):,.0f} samples/s, "
        f"{result.nbytes / max(result.seconds, 1e-9) / 1e6:,.1f} MB/s"))
