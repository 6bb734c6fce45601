"""Hardening round three (issue 22), against a real anvil: a proof naming an attacker's
always-true contract fails (exit 1, not "retry later"), and a revoked anchor is shown as revoked.

Item 9 (`anchor --retry` sending other runs' roots from whatever signer) is fixed and tested in
the reach issue (issue 21)."""

from __future__ import annotations

import json
from pathlib import Path

from web3 import Web3

from tests.security.conftest import write_config
from tests.security.test_hardening3_inputs import small_run
from tests.support.cli import cli

# runtime code that answers every call with 32 bytes holding 1 (`true`): PUSH1 1 PUSH1 0 MSTORE
# PUSH1 32 PUSH1 0 RETURN, behind a constructor that returns it
ALWAYS_TRUE = "0x600a600c600039600a6000f3" + "600160005260206000f3"
ANCHORED = {"store_before_training": True, "store_epoch_checkpoints": False, "store_after_training": True}


def anchored_run(anvil, tmp_path: Path) -> tuple[Path, Path]:
    config = write_config(tmp_path / "config.json", anvil, ANCHORED)
    return small_run(tmp_path / "runs", "r1", config=json.loads(config.read_text())), config


def test_16_check_proof_naming_an_always_true_contract_fails_with_exit_1(anvil, tmp_path):
    run, config = anchored_run(anvil, tmp_path)
    made = cli("prove", str(run), "--leaf", "model.param:1.weight", "-o", str(tmp_path / "p.json"))
    assert made.returncode == 0, made.stderr
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[1], "data": ALWAYS_TRUE})
    fake = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    assert w3.eth.call({"to": fake, "data": "0x12345678"}) == (1).to_bytes(32, "big")
    proof = json.loads((tmp_path / "p.json").read_text())
    for anchor in proof["anchors"]:
        anchor["location"]["contract"] = fake
    (tmp_path / "forged.json").write_text(json.dumps(proof))
    done = cli("check-proof", str(tmp_path / "forged.json"), "--network", anvil.url)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAILED  on-chain: the contract at {fake} on chain" in done.stdout
    assert "is not this version of MLProvenance" in done.stdout and "proof INVALID" in done.stdout


def test_17_after_revoke_anchor_and_status_say_revoked(anvil, tmp_path):
    run, config = anchored_run(anvil, tmp_path)
    before = cli("anchor", str(run), "--config", str(config))
    assert before.returncode == 0 and "post/ethereum: confirmed" in before.stdout, before.stdout + before.stderr
    revoked = cli("revoke", str(run), "--stage", "post", "--reason", "withdrawn", "--config", str(config))
    assert revoked.returncode == 0, revoked.stderr
    done = cli("anchor", str(run), "--config", str(config))
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1
    assert "post/ethereum: revoked revoked by 0x" in done.stdout and "pre/ethereum: confirmed" in done.stdout
    status = cli("status", str(run), "--config", str(config))
    assert status.returncode == 0, status.stderr
    post = next(line for line in status.stdout.splitlines() if line.strip().startswith("post"))
    assert "revoked" in post and "confirmed" not in post
    assert "next: the anchors of post/ethereum are revoked, for good" in status.stdout
