"""`provenance recover RUN`: rebuild a run's record.json from the outbox after a crash."""

from __future__ import annotations

from pathlib import Path

import click

from ..anchoring.outbox import Outbox
from ..record import check_run_id
from ..anchoring.recovery import recover as recover_run
from .common import base_dir_option, emit, json_option


@click.command()
@click.argument("run")
@base_dir_option
@json_option
def recover(run, base_dir, as_json) -> None:
    """Rebuild RUN's record.json (a run folder, or a run id under --base-dir) from what the
    outbox holds: every stage that reached the outbox comes back with its receipts, and the
    stages that are not anchored are named. Verify the run afterwards."""
    folder = Path(run)
    if not folder.is_dir():
        folder = base_dir / check_run_id(run)
    if not folder.is_dir():
        raise click.UsageError(f"RUN: expected a run folder or a run id under {base_dir}, found no folder {folder}")
    done = recover_run(folder, Outbox())

    def text() -> str:
        lines = [f"run {done.run_id}: record.json rebuilt from the outbox ({done.run_dir / 'record.json'})"]
        for stage in done.stages:
            states = done.anchors.get(stage, {})
            shown = ", ".join(f"{n} {s}" for n, s in states.items()) or "no anchor"
            lines.append(f"  {stage:<9} {'recovered' if stage in done.recovered else 'in record'}  {shown}")
        if done.unanchored:
            lines.append("not anchored: " + ", ".join(done.unanchored))
        if "post" not in done.stages:
            lines.append("no post-training tree: the run is INCOMPLETE (verification exits 1)")
        return "\n".join(lines)

    emit(as_json, done.to_json(), text)
