"""`provenance runs`: a row per run folder, newest first, with the last saved verdict; a folder
that is not a run is a row with its error, never a crash of the listing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from provenance.cli import main

ROW_KEYS = {"id", "path", "run_id", "date", "dataset", "accuracy", "stages", "anchors", "verdict",
            "verdict_saved_at", "verdict_current", "error"}


def run(*args: str):
    return CliRunner(mix_stderr=False).invoke(main, list(args), catch_exceptions=False)


def copy_run(trained_run, base: Path, name: str, created_at: str | None = None) -> Path:
    """A copy of the trained run under `base`; `created_at` moves its pre tree's date."""
    folder = base / name
    shutil.copytree(trained_run.run_dir, folder)
    if created_at is not None:
        record = json.loads((folder / "record.json").read_text())
        record["stages"][0]["created_at"] = created_at
        (folder / "record.json").write_text(json.dumps(record))
    return folder


@pytest.fixture
def runs_folder(trained_run, tmp_path):
    """Two good runs (one a year older), one never reported, and four folders that are not runs."""
    base = tmp_path / "runs"
    base.mkdir()
    copy_run(trained_run, base, "newest")
    copy_run(trained_run, base, "older", created_at="2020-01-02T03:04:05+00:00")
    (copy_run(trained_run, base, "unreported", created_at="2021-01-01T00:00:00+00:00") / "report.json").unlink()
    (base / "foreign").mkdir()
    (base / "foreign" / "notes.txt").write_text("not a run")
    (base / "badjson").mkdir()
    (base / "badjson" / "record.json").write_text("{ this is not json")
    (base / "otherformat").mkdir()
    (base / "otherformat" / "record.json").write_text('{"format": "someone-else/v9"}')
    (base / "oddshape").mkdir()
    (base / "oddshape" / "record.json").write_text('{"format": "provenance-record/v2", "stages": 7}')
    (base / "stray-file.txt").write_text("a file, not a folder: not listed")
    (base / ".hidden").mkdir()
    return base


def test_runs_json_lists_every_folder_newest_first(runs_folder, trained_run):
    result = run("runs", "--base-dir", str(runs_folder), "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert all(set(row) == ROW_KEYS for row in rows)
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == {"newest", "older", "unreported", "foreign", "badjson", "otherformat", "oddshape"}

    good = [row["id"] for row in rows if row["error"] is None]
    assert good == ["newest", "unreported", "older"]  # by the pre tree's date, newest first

    newest = by_id["newest"]
    assert newest["run_id"] == "digits-e2e" and newest["stages"] == ["pre", "epoch-1", "post"]
    assert newest["accuracy"] == pytest.approx(trained_run.accuracy)
    assert newest["dataset"].startswith("sklearn-digits")
    assert newest["anchors"] == {"ethereum": {"confirmed": 3, "stages": 3, "states": {"confirmed": 3}}}
    assert newest["verdict"] == "PASSED" and newest["verdict_current"] is True and newest["verdict_saved_at"]
    assert by_id["unreported"]["verdict"] == "not verified" and by_id["unreported"]["verdict_saved_at"] is None

    assert by_id["foreign"]["error"] == "expected a run folder with record.json, found none"
    assert "expected JSON, found invalid JSON" in by_id["badjson"]["error"]
    assert "found 'someone-else/v9'" in by_id["otherformat"]["error"]
    assert "expected a provenance record, found another shape" in by_id["oddshape"]["error"]


def test_runs_table_shows_errors_as_rows(runs_folder):
    result = run("runs", "--base-dir", str(runs_folder))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["RUN", "DATE", "(UTC)", "DATASET", "ACCURACY", "STAGES", "ANCHORS", "VERDICT", "(SAVED)"]
    newest = next(line for line in lines if line.startswith("newest "))
    assert "pre, epoch-1, post" in newest and "3/3 eth" in newest and newest.endswith("PASSED")
    assert next(line for line in lines if line.startswith("unreported ")).endswith("not verified")
    assert "2020-01-02 03:04" in next(line for line in lines if line.startswith("older "))
    foreign = next(line for line in lines if line.startswith("foreign "))
    assert foreign.split(None, 1)[1] == "error: expected a run folder with record.json, found none"
    assert not any("stray-file" in line or ".hidden" in line for line in lines)


def test_runs_marks_a_verdict_about_older_trees(trained_run, tmp_path):
    folder = copy_run(trained_run, tmp_path, "changed")
    report = json.loads((folder / "report.json").read_text())
    report["trees"][0]["root"] = "0x" + "11" * 32  # the report was about another pre tree
    (folder / "report.json").write_text(json.dumps(report))
    result = run("runs", "--base-dir", str(tmp_path), "--json")
    row = json.loads(result.stdout)[0]
    assert row["verdict"] == "PASSED" and row["verdict_current"] is False
    assert "PASSED (older trees)" in run("runs", "--base-dir", str(tmp_path)).stdout


def test_runs_pending_anchors_are_counted(trained_run, tmp_path):
    folder = copy_run(trained_run, tmp_path, "pending")
    record = json.loads((folder / "record.json").read_text())
    record["receipts"][-1]["state"] = "pending"
    (folder / "record.json").write_text(json.dumps(record))
    row = json.loads(run("runs", "--base-dir", str(tmp_path), "--json").stdout)[0]
    assert row["anchors"]["ethereum"] == {"confirmed": 2, "stages": 3, "states": {"confirmed": 2, "pending": 1}}
    assert "2/3 eth (1 pending)" in run("runs", "--base-dir", str(tmp_path)).stdout


def test_runs_empty_and_missing_folders(tmp_path):
    result = run("runs", "--base-dir", str(tmp_path), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    assert run("runs", "--base-dir", str(tmp_path)).stdout.strip() == f"no runs under {tmp_path}"
    missing = run("runs", "--base-dir", str(tmp_path / "nope"))
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"error: --base-dir: expected a folder of run folders, found nothing at {tmp_path / 'nope'}"
    assert not missing.stdout
