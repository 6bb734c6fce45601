"""Verdicts carry their status as a value: ok, failed, or cannot check."""

from __future__ import annotations

import pytest

from provenance.record.receipts import Status, Verdict


def test_status_follows_ok_unless_the_check_could_not_be_made():
    assert Verdict("ethereum", True, "anchored").status is Status.OK
    assert Verdict("ethereum", False, "revoked").status is Status.FAILED
    unchecked = Verdict.cannot_check("ethereum", "cannot check: node down")
    assert unchecked.status is Status.CANNOT_CHECK and not unchecked.ok
    assert unchecked.to_json()["status"] == "cannot check"


@pytest.mark.parametrize(("ok", "status"), [(True, Status.FAILED), (True, Status.CANNOT_CHECK), (False, Status.OK)])
def test_a_status_that_contradicts_ok_is_refused(ok, status):
    with pytest.raises(ValueError, match="expected status ok exactly when ok is true"):
        Verdict("ipfs", ok, "x", status=status)
