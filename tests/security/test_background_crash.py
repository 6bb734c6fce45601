"""A training killed (SIGKILL) while its background thread anchors an epoch tree: the transaction
was sent, the outbox had not heard back. `provenance recover` brings the epoch back from the
outbox, `provenance anchor` finds that same transaction on chain (nothing is sent twice), and
verification then checks a run that stops at epoch-1: INCOMPLETE, every anchor by the run's
identity and in chain order."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from tests.security.test_attacks import failed, verify
from tests.support.cli import ROOT, cli


def test_sigkill_while_an_epoch_is_anchored_in_the_background_then_recover(config_path, tmp_path, accounts_of):
    base = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "tests.security.crash_background", str(base), "crashed", str(config_path)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    if not line.startswith("at epoch-1 0x"):
        process.kill()
        raise AssertionError(f"crash script: {line!r} {process.stderr.read()[-2000:]}")
    sent_tx = line.split()[-1]
    process.send_signal(signal.SIGKILL)
    process.wait()
    run_dir = base / "crashed"
    saved = [s["name"] for s in json.loads((run_dir / "record.json").read_text())["stages"]]
    assert saved == ["pre"]  # written before the first step; epoch trees reach record.json with post

    status = cli("status", str(run_dir), "--config", str(config_path))
    assert "the outbox knows more than record.json (pre/ethereum confirmed, epoch-1" in status.stdout, status.stdout
    done = cli("recover", str(run_dir), "--json")
    assert done.returncode == 0, done.stderr
    recovery = json.loads(done.stdout)
    assert recovery["stages"][:2] == ["pre", "epoch-1"] and "epoch-1" in recovery["recovered"]
    assert recovery["anchors"]["pre"]["ethereum"] == "confirmed"  # awaited beside training, before the kill
    assert "epoch-1" in recovery["not_anchored"]  # sent, but the outbox never heard back: nothing invented

    done = cli("anchor", str(run_dir), "--config", str(config_path), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    receipts = json.loads(done.stdout)
    assert receipts["epoch-1/ethereum"]["state"] == "confirmed"
    assert receipts["epoch-1/ethereum"]["location"]["tx_hash"] == sent_tx  # found on chain, not sent again
    code, report = verify(run_dir, config_path)
    assert code == 1 and report["verdict"] == "INCOMPLETE", failed(report)
    assert [c for c in report["checks"] if c["name"] == "anchors in chain order"][0]["ok"]
    assert set(report["submitters"]) >= {"pre", "epoch-1"} and set(report["submitters"].values()) == {accounts_of[0]}
