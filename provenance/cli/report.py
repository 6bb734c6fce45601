"""`provenance report RUN`: verify a run and write its reports (JSON, Markdown, HTML) into its folder."""

from __future__ import annotations

import sys

import click

from .common import submitter_option
from .common import (base_dir_option, config_option, emit, ethereum_flags, json_option, load_settings_for, network_option,
                     resolve_run)
from .data import data_option, parse_data_options


@click.command()
@click.argument("run")
@click.option("--html/--no-html", "html", default=True, show_default=True,
              help="Also write report.html: one self-contained page (verdict, trees and anchors, metrics, plots, "
                   "changed leaves highlighted) that loads nothing from the network.")
@submitter_option
@data_option
@base_dir_option
@config_option
@network_option
@json_option
def report(run, html, submitters, data_paths, base_dir, config_path, eth_network, as_json) -> None:
    """Verify RUN (a run folder, a run id under --base-dir, or `latest`) and write report.json,
    report.md and report.html into its folder.

    The reports are written whatever the verdict. Exits as `provenance verify` does: 0 PASSED,
    1 FAILED or INCOMPLETE; and 3 for CANNOT CHECK (the only failures are anchors whose network
    could not be asked: nothing found against the run, try again when it is up)."""
    from ..record import Record
    from ..verification import verdicts
    from ..verification.report import HTML_FILE, headline, saved_finding, write_reports
    from ..verification.verify import RECORD_FILE, verify_run

    run_dir = resolve_run(run, base_dir)
    settings = load_settings_for(config_path, ethereum_flags(eth_network, None))
    verification = verify_run(run_dir, config=settings, submitters=submitters, data=parse_data_options(data_paths))
    record = Record.load(run_dir / RECORD_FILE)
    kept = saved_finding(record, verification, run_dir)
    path = write_reports(record, verification, run_dir, html=html)
    files = {"json": str(path), "markdown": str(path.with_suffix(".md"))} | ({"html": str(run_dir / HTML_FILE)} if html else {})
    data = {"run_id": verification.run_id, "verdict": headline(verification.to_json()), "files": files,
            "kept_saved_verdict": kept, "trust": verification.trust}
    lines = [*files.values()] if kept is None else [f"saved report kept (its verdict {kept} is a finding; CANNOT CHECK never replaces it)"]
    if verification.unchecked:
        lines.append("CANNOT CHECK: " + "; ".join(verification.unchecked))
    emit(as_json, data, lambda: "\n".join([*lines, f"verdict: {data['verdict']} ({verification.trust})"]))
    if verdicts.exit_code(data["verdict"]):
        sys.exit(verdicts.exit_code(data["verdict"]))
