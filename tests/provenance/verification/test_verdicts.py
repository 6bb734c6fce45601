"""The one verdict scale: which verdict a set of checks gives, its exit code, and which saved
verdict a new one may replace."""

from __future__ import annotations

from provenance.verification import verdicts
from provenance.verification.verify import VerificationReport


def _report(*checks: tuple[bool, bool, bool]) -> VerificationReport:
    report = VerificationReport("run")
    for i, (ok, incomplete, unchecked) in enumerate(checks):
        report.add(f"check {i}", ok, "detail", incomplete=incomplete, unchecked=unchecked)
    return report


def test_each_verdict_and_its_exit_code():
    passed, unasked, missing, wrong = (True, False, False), (False, False, True), (False, True, False), (False, False, False)
    cases = {
        (passed,): ("PASSED", 0),
        (passed, unasked): ("CANNOT CHECK", 3),
        (unasked, missing): ("INCOMPLETE", 1),  # something is missing whatever could not be asked
        (unasked, missing, wrong): ("FAILED", 1),
        (): ("FAILED", 1),  # nothing checked is no pass
    }
    for checks, (verdict, code) in cases.items():
        report = _report(*checks)
        assert (report.verdict, report.exit_code) == (verdict, code), checks
        assert report.to_json()["verdict"] == verdict
    assert _report(passed, unasked).unchecked == ["detail"]


def test_a_cannot_check_never_replaces_a_finding():
    for saved in ("PASSED", "FAILED", "INCOMPLETE"):
        assert not verdicts.replaces("CANNOT CHECK", saved)
        assert verdicts.replaces(saved, "CANNOT CHECK")
    assert verdicts.replaces("CANNOT CHECK", None) and verdicts.replaces("CANNOT CHECK", "CANNOT CHECK")


def test_trust_note_and_well_known_accounts():
    anvil0 = verdicts.WELL_KNOWN_DEV_ACCOUNTS[0]
    assert verdicts.trust_note(anvil0, []) == f"identity {anvil0} not checked against a trust list"
    assert verdicts.trust_note(anvil0, [anvil0.lower()]) == f"identity {anvil0} is on the trust list"
    assert "well-known test account #0" in verdicts.well_known(anvil0.lower())
    assert verdicts.well_known("0x" + "12" * 20) is None and verdicts.well_known(None) is None
