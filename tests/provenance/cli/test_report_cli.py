"""`provenance report RUN`: writes report.json, report.md and (unless --no-html) report.html
atomically into the run folder; --json names the files and the verdict; bad input is one line."""

from __future__ import annotations

import json

from tests.support.cli import cli


def test_report_writes_three_files_and_names_them(run_copy):
    for name in ("report.json", "report.md", "report.html"):
        (run_copy / name).unlink(missing_ok=True)
    done = cli("report", str(run_copy))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    identity = json.loads((run_copy / "report.json").read_text())["verification"]["identity"]
    assert lines == [str(run_copy / "report.json"), str(run_copy / "report.md"), str(run_copy / "report.html"),
                     f"verdict: PASSED (identity {identity} not checked against a trust list)"]
    assert all((run_copy / name).is_file() for name in ("report.json", "report.md", "report.html"))
    assert not [p.name for p in run_copy.iterdir() if p.name.endswith(".tmp")]  # written through a rename


def test_report_json_and_no_html(run_copy):
    (run_copy / "report.html").unlink(missing_ok=True)
    done = cli("report", str(run_copy), "--no-html", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["verdict"] == "PASSED" and out["run_id"] == run_copy.name
    assert set(out["files"]) == {"json", "markdown"}
    assert not (run_copy / "report.html").exists()


def test_report_of_a_missing_run_is_one_line_exit_2(tmp_path):
    done = cli("report", str(tmp_path / "nowhere"), "--base-dir", str(tmp_path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "expected a run folder" in done.stderr
