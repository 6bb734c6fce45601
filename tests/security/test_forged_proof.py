"""A forged proof file: a one-tree "run" holding a poisoned sample, anchored by the attacker's own
account, under the honest run's run_id. `check-proof --submitter <trainer>` must exit 1 naming why;
the honest run's own proof still passes with it."""

from __future__ import annotations

import json

from provenance.merkle import Leaf, MerkleTree
from provenance.record import Record
from provenance.verification.proofs import ProofBundle, Step, prove
from tests.support.cli import cli


def test_one_tree_run_by_another_account_does_not_prove(honest_run, attacker, accounts_of, tmp_path):
    record = Record.load(honest_run.run_dir / "record.json")
    trainer = accounts_of[0]
    config = tmp_path / "config.json"
    config.write_text((honest_run.run_dir.parent.parent / "config.json").read_text())

    honest_proof = tmp_path / "honest.json"
    honest_proof.write_text(json.dumps(prove(record, "data.sample", "train/000000").to_json()))
    good = cli("check-proof", str(honest_proof), "--submitter", trainer, "--config", str(config))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "proof VALID" in good.stdout and f"identity {trainer} is on the trust list" in good.stdout

    poisoned = Leaf("data.sample", "train/000000", b"\x66" * 32, 65)
    tree = MerkleTree.of([poisoned, Leaf("run.nonce", "nonce", b"\x01" * 32, 32)])
    receipt = attacker.anchor(tree.root, b"forged record")
    forged = ProofBundle(record.run_id, (Step("pre", tree.root, poisoned, tuple(tree.proof(poisoned))),),
                         (("pre", receipt),), attacker.signer_address)
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged.to_json()))

    for args in ([], ["--submitter", trainer]):
        done = cli("check-proof", str(path), "--config", str(config), *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "no path from a pre tree that commits an Ethereum identity" in done.stdout
        assert "proof INVALID" in done.stdout
    named = cli("check-proof", str(path), "--config", str(config), "--submitter", trainer, "--offline")
    assert named.returncode == 1 and "proof INVALID" in named.stdout
