"""`provenance revoke`: the submitter withdraws a stage's anchor; verification then fails naming
the revoker and the reason; a second revoke, another signer and unknown stages are refused (exit 2)."""

from __future__ import annotations

import json
import os

import pytest

from provenance.training import TrainOptions, run_training
from tests.support.cli import cli

# anvil's well-known development account 1 (public test key, not a secret)
ANVIL_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9c86dae88c7a8416efcd0b4f5dbcfd"


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """A run of its own (seed 17: roots no other test shares), anchored on the local chain."""
    base = tmp_path_factory.mktemp("revoke-runs")
    result = run_training(TrainOptions(epochs=1, seed=17, base_dir=str(base), run_id="revoke-me"))
    assert result.verification and result.verification["ok"], result.verification
    return result


def test_revoke_then_verify_fails_naming_the_revoker(own_run):
    run = str(own_run.run_dir)
    record = json.loads((own_run.run_dir / "record.json").read_text())
    post = next(r for r in record["receipts"] if r["stage"] == "post" and r["network"] == "ethereum")
    submitter = post["location"]["submitter"]

    other = dict(os.environ, ETH_PRIVATE_KEY=ANVIL_KEY_1)
    done = cli("revoke", run, "--stage", "post", "--reason", "not yours", env=other)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"stage 'post' was anchored by {submitter}: expected that signer" in done.stderr
    assert ANVIL_KEY_1[2:] not in done.stdout + done.stderr

    done = cli("revoke", run, "--stage", "post", "--reason", "key leaked", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["submitter"] == submitter and data["root"] == post["root"] and data["reason"] == "key leaked"
    assert data["tx_hash"].startswith("0x") and len(data["tx_hash"]) == 66

    done = cli("verify", run, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"revoked by {submitter}: key leaked" in done.stdout

    done = cli("revoke", run, "--stage", "post", "--reason", "again")
    assert done.returncode == 2
    assert "is already revoked" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("args, message", [
    (["--stage", "nope", "--reason", "x"], "nope"),
    (["--stage", "pre", "--reason", " "], "--reason: expected a non-empty reason, found none"),
])
def test_revoke_bad_input(own_run, args, message):
    done = cli("revoke", str(own_run.run_dir), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
