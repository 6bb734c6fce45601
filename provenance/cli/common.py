"""Options and helpers shared by the `provenance` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

from ..errors import ConfigError

RECORD_FILE = "record.json"

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of text.")
config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Tracker config JSON (default: configs/blockchain_config.json if present, else built-in defaults).",
)
base_dir_option = click.option(
    "--base-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("artifacts"), show_default=True,
    help="Folder holding run folders.",
)


def resolve_run(run: str, base_dir: Path) -> Path:
    """A run folder from a path, a run id under `base_dir`, or `latest`."""
    if run == "latest":
        runs = sorted((p for p in base_dir.glob("*/" + RECORD_FILE)), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise ConfigError(f"no runs under {base_dir}: expected at least one run folder with {RECORD_FILE}")
        return runs[-1].parent
    for candidate in (Path(run), base_dir / run):
        if (candidate / RECORD_FILE).is_file():
            return candidate
    raise ConfigError(f"run {run!r}: expected a run folder with {RECORD_FILE} (as a path or under {base_dir}), found none")


def emit(as_json: bool, data: Any, text: Callable[[], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text())


def parse_leaf_ref(value: str) -> tuple[str, str]:
    kind, sep, name = value.partition(":")
    if not sep or not kind or not name:
        raise ConfigError(f"--leaf: expected KIND:NAME such as data.sample:train/000123, found {value!r}")
    return kind, name
