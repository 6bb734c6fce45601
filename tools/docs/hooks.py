"""MkDocs hooks (mkdocs.yml `hooks:`): the reference tables generated from the code.

A page that says `<!-- generated: NAME -->` gets `tools/docs/reference.py`'s table NAME there.
Before anything renders, this checkout goes first on `sys.path` (the API and CLI references
describe the code beside this file, not an installed copy) and every `provenance` command is
loaded, so mkdocs-click lists them all (the group imports its commands lazily).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (str(Path(__file__).parent), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)

import reference  # noqa: E402 - after the path above

MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")


def on_config(config, **kwargs):
    import click

    from provenance.cli import main

    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        main.get_command(ctx, name)
    return config


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    def generated(match: re.Match) -> str:
        name = match.group(1)
        if name not in reference.GENERATORS:
            raise ValueError(f"{page.file.src_path}: expected a generated table in {sorted(reference.GENERATORS)}, found {name!r}")
        return reference.GENERATORS[name]()

    return MARKER.sub(generated, markdown)
