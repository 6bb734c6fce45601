"""The table of leaf kinds: every kind a run's trees hold is re-hashed by its row, and a kind
with no row fails verification instead of passing unchecked."""

from __future__ import annotations

import json

from provenance.verification.verify import KINDS, verify_run


def test_every_kind_a_training_run_writes_has_a_row(trained_run):
    record = json.loads((trained_run.run_dir / "record.json").read_text())
    kinds = {leaf[0] for stage in record["stages"] for leaf in stage["leaves"]}
    assert kinds and kinds <= set(KINDS), sorted(kinds - set(KINDS))


def test_a_kind_with_no_row_is_a_failed_check(run_copy):
    path = run_copy / "record.json"
    record = json.loads(path.read_text())
    post = record["stages"][-1]
    post["leaves"].append(["weights.extra", "x", "0x" + "11" * 32, "1"])
    post["leaf_count"] += 1
    path.write_text(json.dumps(record))
    report = verify_run(run_copy)
    check = next(c for c in report.checks if c.name == "post weights.extra")
    assert not report.ok and not check.ok and "no way to re-hash them" in check.detail
