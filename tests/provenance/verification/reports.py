"""Helpers for the report tests: `provenance report` in a fresh process,
and markup planted in a run folder as an attacker would plant it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cli import cli

IMG = '<img src=x onerror="alert(2)">'


def make_report(run_dir: Path, *args: str, code: int = 0) -> dict[str, Any]:
    """`provenance report RUN --json ARGS`, which must exit with `code` (0 PASSED, 1 FAILED or
    INCOMPLETE, 3 CANNOT CHECK); its JSON (files written, verdict)."""
    done = cli("report", str(run_dir), "--json", *args)
    assert done.returncode == code and "Traceback" not in done.stderr, (done.returncode, done.stderr[-2000:])
    return json.loads(done.stdout)


def inject_markup(run_dir: Path, markup: str) -> None:
    """Put `markup` where record.json takes free text: a metric name of the first epoch tree, the git
    branch (as an image with a handler) and an environment field's name and value."""
    path = run_dir / "record.json"
    record = json.loads(path.read_text())
    epoch = next(s for s in record["stages"] if s["name"].startswith("epoch-"))
    epoch["metrics"][markup] = 1.0
    record["code"]["git"]["branch"] = IMG
    record["environment"][markup] = markup
    path.write_text(json.dumps(record))
