"""`provenance report RUN`: verify a run and write its reports (JSON, Markdown, HTML) into its folder."""

from __future__ import annotations

import click

from .common import base_dir_option, config_option, emit, json_option, resolve_run


@click.command()
@click.argument("run")
@click.option("--html/--no-html", "html", default=True, show_default=True,
              help="Also write report.html: one self-contained page (verdict, trees and anchors, metrics, plots, "
                   "changed leaves highlighted) that loads nothing from the network.")
@base_dir_option
@config_option
@json_option
def report(run, html, base_dir, config_path, as_json) -> None:
    """Verify RUN (a run folder, a run id under --base-dir, or `latest`) and write report.json,
    report.md and report.html into its folder.

    Exits 0 once the reports are written, whatever the verdict (the reports say it; `provenance
    verify` is the command whose exit status is the verdict)."""
    from ..record import Record
    from ..verification.report import HTML_FILE, headline, write_reports
    from ..verification.verify import RECORD_FILE, verify_run

    run_dir = resolve_run(run, base_dir)
    verification = verify_run(run_dir, config=config_path)
    path = write_reports(Record.load(run_dir / RECORD_FILE), verification, run_dir, html=html)
    files = {"json": str(path), "markdown": str(path.with_suffix(".md"))} | ({"html": str(run_dir / HTML_FILE)} if html else {})
    data = {"run_id": verification.run_id, "verdict": headline(verification.to_json()), "files": files}
    emit(as_json, data, lambda: "\n".join([*files.values(), f"verdict: {data['verdict']}"]))
