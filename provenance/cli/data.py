"""`--data NAME=PATH` (repeatable): point a dataset of the run at the verifier's own copy."""

from __future__ import annotations

from typing import Sequence

import click

from ..errors import ConfigError

data_option = click.option(
    "--data", "data_paths", multiple=True, metavar="NAME=PATH",
    help="Your copy of the run's data (repeatable): NAME is the dataset's name in the record (or `dataset`/`train` "
         "for its main path, `test` for its test path); the report says which copy was checked.")


def parse_data_options(values: Sequence[str]) -> dict[str, str]:
    """{NAME: PATH} from `--data NAME=PATH` options; exit 2 on a malformed one."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path:
            raise ConfigError(f"--data: expected NAME=PATH (e.g. dataset=/data/copy.npz), found {value!r}")
        if name in out:
            raise ConfigError(f"--data: expected each NAME once, found {name!r} twice")
        out[name.strip()] = path
    return out
