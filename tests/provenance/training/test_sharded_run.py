"""A tracked run on sharded data, end to end: `track_data(engine=...)` commits one `data.shard`
leaf per shard; `provenance prove` gives a nested proof that `check-proof` accepts offline and
through the contract's verifyNestedInclusion, and @openzeppelin/merkle-tree level by level;
`provenance verify` names a changed shard and the changed sample inside it; a spot check prints
its seed and what it proves."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
import torch

from provenance import ProvenanceTracker
from provenance.verification.nested import NestedProof
from provenance.verification.verify import verify_run
from tests.support import oz
from tests.support import shard_sources as src
from tests.support.cli import cli

CONFIG = {"storage_options": {"store_epoch_checkpoints": False}}


@pytest.fixture
def sharded_run(tmp_path):
    folder = src.write_tars(tmp_path / "wds", shards=3, per_shard=4)
    tracker = ProvenanceTracker(tmp_path / "artifacts", CONFIG, run_id="sharded")
    assert tracker.track_data(str(folder), engine="local") == {"train_samples": 24, "test_samples": 0}
    torch.manual_seed(0)
    tracker.track_model(torch.nn.Linear(4, 2))
    tracker.store_merkle_on_blockchain_before_training({"lr": 0.1})
    tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.1})
    tracker.close()
    return tracker.run_dir, folder


def test_nested_proof_from_prove_to_check_proof(sharded_run, tmp_path):
    run_dir, _ = sharded_run
    shard_leaves = [v for v in json.loads((run_dir / "record.json").read_text())["stages"][0]["leaves"] if v[0] == "data.shard"]
    assert [v[1] for v in shard_leaves] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    made = cli("prove", str(run_dir), "--leaf", "data.sample:shard-000001.tar/3", "-o", str(tmp_path / "p.json"))
    assert made.returncode == 0, made.stderr
    proof = NestedProof.from_json(json.loads((tmp_path / "p.json").read_text()))
    assert proof.sample.name == "001001.txt" and proof.shard_leaf.name == "shard-000001.tar"
    checked = cli("check-proof", str(tmp_path / "p.json"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "verifyNestedInclusion(" in checked.stdout and "= True" in checked.stdout and "proof VALID" in checked.stdout
    # each level, by OpenZeppelin's library
    step = proof.run.steps[0]
    assert oz.verify(proof.shard_leaf.digest, [(proof.sample, proof.sample_proof)])["proofs"] == [True]
    assert oz.verify(step.root, [(step.leaf, step.proof)])["proofs"] == [True]
    # a forged sample digest fails offline and on-chain
    data = json.loads((tmp_path / "p.json").read_text())
    data["sample"]["leaf"][2] = "0x" + "11" * 32
    (tmp_path / "forged.json").write_text(json.dumps(data))
    forged = cli("check-proof", str(tmp_path / "forged.json"))
    assert forged.returncode == 1 and "= False" in forged.stdout and "proof INVALID" in forged.stdout


def test_verify_names_the_changed_shard_and_sample_and_spot_checks(sharded_run):
    run_dir, folder = sharded_run
    assert verify_run(run_dir).ok
    spot = cli("verify", str(run_dir), "--spot-check", "8", "--seed", "42", "--json")
    assert spot.returncode == 0, spot.stdout + spot.stderr
    check = next(c for c in json.loads(spot.stdout)["checks"] if "spot check" in c["name"])
    assert check["ok"] and "seed 42" in check["detail"] and "(1-p)^8" in check["detail"]
    assert "8 of 8 draws read alone through the kept shard trees" in check["detail"]
    # rewrite shard 1 with one member changed
    with tarfile.open(folder / "shard-000001.tar") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(folder / "shard-000001.tar", "w") as tar:
        for m, data in members:
            data = b"tampered caption" if m.name == "001002.txt" else data
            m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    report = verify_run(run_dir)
    failed = [c for c in report.checks if not c.ok]
    assert [c.name for c in failed] == ["pre data.shard"]
    assert "shard shard-000001.tar changed" in failed[0].detail
    assert "changed sample(s): 5 001002.txt: digest" in failed[0].detail
    full = cli("verify", str(run_dir), "--engine", "dask", "--workers", "1")
    assert full.returncode == 1 and "001002.txt" in full.stdout
    # every sample of shard 1 drawn: the changed one fails its nested proof, read alone
    from provenance.record import Record
    from provenance.verification.shards import spot_check
    from provenance.digests.shards import discover

    record = Record.load(run_dir / "record.json")
    refs = [r for r in discover(folder)[1] if r.id == "shard-000001.tar"]
    check = spot_check(refs, record.stage("pre").tree(), 60, seed=1, leaves_dir=run_dir / "shards")
    failed = {d for s, i, ok, d in check.drawn if s == "shard-000001.tar" and not ok}
    assert failed == {"data.sample:001002.txt (sample re-hashed): nested proof does NOT hold"}


def test_in_memory_arrays_in_shards(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.random((40, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 40)
    test = rng.random((10, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 10)
    tracker = ProvenanceTracker(tmp_path / "artifacts", CONFIG, run_id="arrays")
    assert tracker.track_data(train, test, shard_size=16) == {"train_samples": 40, "test_samples": 10}
    tracker.track_model(torch.nn.Linear(4, 2))
    tracker.store_merkle_on_blockchain_before_training({"lr": 0.1})
    tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.1})
    tracker.close()
    pre = tracker.record.stage("pre")
    assert [(v.name, v.size) for v in pre.leaves if v.kind == "data.shard"] == [  # sorted by shard id
        ("test-000000", 10), ("train-000000", 16), ("train-000001", 16), ("train-000002", 8)]
    assert verify_run(tracker.run_dir, datasets=(train, test)).ok
    missing = verify_run(tracker.run_dir)  # in-memory data not given again: a failed check, not a crash
    assert [c.name for c in missing.checks if not c.ok] == ["pre data.shard"]
    train[0][33, 0, 1, 1] += 1.0
    changed = [c for c in verify_run(tracker.run_dir, datasets=(train, test)).checks if not c.ok]
    assert len(changed) == 1 and "shard train-000002 changed" in changed[0].detail and "1 train/000033" in changed[0].detail
