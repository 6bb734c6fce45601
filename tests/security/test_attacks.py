"""The attacks of the threat model (docs/explanation/threat-model.md), each against a real anvil:
the attacker controls the run folder, sends transactions from an account of their own, reads
roots before they are anchored, and kills processes. Each attack fails verification (run from a
fresh process, the CLI) or is refused, and the honest run still verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from provenance.digests import models
from provenance.record.receipts import AnchorState
from provenance.record import IDENTITY_ETHEREUM, Record, Stage, ethereum_identity_leaf
from provenance.training.tracker import FINAL_MODEL_FILE, ProvenanceTracker
from tests.security.conftest import NO_ANCHORS, write_config
from tests.support.cli import ROOT, cli


def verify(run_dir: Path, config: Path, *extra: str) -> tuple[int, dict]:
    done = cli("verify", str(run_dir), "--config", str(config), "--json", *extra)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def failed(report: dict) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}


def wrong(report: dict) -> dict[str, str]:
    """The failed checks that say something does not hold (not merely missing)."""
    return {c["name"]: c["detail"] for c in report["checks"] if not c["ok"] and not c["incomplete"]}


def rebuild(record: Record, leaves_of: dict) -> None:
    """Rebuild every tree from `pre` on (chain links recomputed), with `leaves_of[stage](leaves)`
    changing a tree's own leaves: what an attacker with the folder can do."""
    stages: list[Stage] = []
    for stage in record.stages:
        leaves = [leaf for leaf in stage.leaves if leaf.kind != "chain.prev"]
        leaves = leaves_of.get(stage.name, lambda x: x)(leaves)
        stages.append(Stage.build(stage.name, leaves, stages[-1] if stages else None, stage.created_at, stage.metrics))
    record.stages = stages


def anchor_stage(backend, record: Record, stage: str):
    prev = record.stage(stage).prev
    receipt = backend.anchor(record.stage(stage).root, record.snapshot_bytes(stage), record.stage(prev).root if prev else bytes(32))
    assert receipt.state is AnchorState.CONFIRMED
    record.set_receipt(stage, receipt)
    return receipt


def test_honest_run_verifies_and_names_who_anchored_each_stage(honest_run, config_path, accounts_of):
    code, report = verify(honest_run.run_dir, config_path)
    assert code == 0 and report["verdict"] == "PASSED", failed(report)
    assert report["identity"] == accounts_of[0]
    assert report["submitters"] == {"pre": accounts_of[0], "epoch-1": accounts_of[0], "post": accounts_of[0]}
    assert [c for c in report["checks"] if c["name"] == "anchors in chain order"][0]["ok"]
    assert verify(honest_run.run_dir, config_path, "--submitter", accounts_of[0].lower())[0] == 0
    code, report = verify(honest_run.run_dir, config_path, "--submitter", accounts_of[1], "--submitter", accounts_of[2])
    assert code == 1 and report["verdict"] == "FAILED"
    assert failed(report) == {"trusted submitter": f"the run's identity {accounts_of[0]} is not one of the trusted "
                                                   f"submitters ({accounts_of[1]}, {accounts_of[2]})"}
    text = cli("verify", str(honest_run.run_dir), "--config", str(config_path)).stdout
    assert f"post      ethereum  anchored by {accounts_of[0]}" in text and "verification PASSED" in text


def test_forged_post_anchored_by_another_account_fails_naming_the_submitter(run_copy, config_path, attacker, accounts_of):
    """Swap the final model, rebuild post, anchor it from another account."""
    state = models.load_weights(run_copy / FINAL_MODEL_FILE)
    forged = {k: torch.as_tensor(v) + 1.0 for k, v in state.items()}
    data = models.save_weights(forged, run_copy / FINAL_MODEL_FILE)
    record = Record.load(run_copy / "record.json")
    kept = lambda leaves: [l for l in leaves if l.kind not in (models.PARAM_KIND, models.FILE_KIND)]
    rebuild(record, {"post": lambda leaves: models.weight_leaves(forged) + [models.file_leaf(FINAL_MODEL_FILE, data)] + kept(leaves)})
    anchor_stage(attacker, record, "post")
    record.save(run_copy / "record.json")
    code, report = verify(run_copy, config_path)
    assert code == 1 and report["verdict"] == "FAILED"
    assert wrong(report)["anchor post ethereum"] == (
        f"anchored by {accounts_of[1]}, not by the run's identity {accounts_of[0]} (committed in the pre tree)")
    assert report["submitters"]["post"] == accounts_of[1]


def test_whole_run_reanchored_under_the_attackers_identity_fails_for_a_verifier_who_names_the_trainer(
        run_copy, config_path, attacker, accounts_of):
    """The attacker rewrites the identity leaf and anchors every tree himself: the run is then his
    (plain verification says so, naming him); a verifier who trusts the trainer rejects it."""
    record = Record.load(run_copy / "record.json")
    record.receipts = []
    rebuild(record, {"pre": lambda leaves: [l for l in leaves if l.kind != IDENTITY_ETHEREUM] + [ethereum_identity_leaf(accounts_of[1])]})
    for stage in ("pre", "epoch-1", "post"):
        anchor_stage(attacker, record, stage)
    record.save(run_copy / "record.json")
    code, report = verify(run_copy, config_path)
    assert code == 0 and report["identity"] == accounts_of[1] and set(report["submitters"].values()) == {accounts_of[1]}
    code, report = verify(run_copy, config_path, "--submitter", accounts_of[0])
    assert code == 1 and "trusted submitter" in failed(report)


def test_post_anchored_before_pre_fails_the_chain_order(anvil, honest, tmp_path):
    from provenance.training import TrainOptions, run_training

    config = write_config(tmp_path / "off.json", anvil, NO_ANCHORS)
    run = run_training(TrainOptions(epochs=1, base_dir=str(tmp_path / "runs"), run_id="backdated", config=str(config)))
    record = Record.load(run.run_dir / "record.json")
    assert [s.name for s in record.stages] == ["pre", "post"] and record.receipts == []
    post = anchor_stage(honest, record, "post")
    pre = anchor_stage(honest, record, "pre")
    record.save(run.run_dir / "record.json")
    code, report = verify(run.run_dir, config)
    assert code == 1 and report["verdict"] == "FAILED"
    assert failed(report) == {"anchors in chain order": f"post anchored in block {post.location['block_number']}, "
                                                        f"before pre in block {pre.location['block_number']}"}


def test_receipts_removed_is_incomplete(run_copy, config_path):
    record = json.loads((run_copy / "record.json").read_text())
    record["receipts"] = []
    (run_copy / "record.json").write_text(json.dumps(record))
    done = cli("verify", str(run_copy), "--config", str(config_path))
    assert done.returncode == 1
    assert "INCOMPLETE: no confirmed and verified ethereum anchor for tree 'pre'" in done.stdout
    assert "verification INCOMPLETE" in done.stdout
    code, report = verify(run_copy, config_path)
    assert report["verdict"] == "INCOMPLETE" and len(report["missing"]) == 3


@pytest.mark.parametrize("edit", ["run_id", "created_at"])
def test_edited_run_id_or_created_at_fails(run_copy, config_path, edit):
    record = json.loads((run_copy / "record.json").read_text())
    if edit == "run_id":
        record["run_id"] = "someone-elses-run"
    else:
        record["stages"][1]["created_at"] = "2020-01-01T00:00:00+00:00"  # epoch-1
    (run_copy / "record.json").write_text(json.dumps(record))
    code, report = verify(run_copy, config_path)
    assert code == 1 and report["verdict"] == "FAILED"
    broken = set(wrong(report))
    expected = {"pre", "epoch-1", "post"} if edit == "run_id" else {"epoch-1", "post"}  # a snapshot holds the trees up to its stage
    # an edited run id also no longer matches the pre tree's run.id leaf
    assert broken == {f"record digest {s} ethereum" for s in expected} | ({"pre run.id"} if edit == "run_id" else set())
    assert all("the record was edited" in wrong(report)[f"record digest {s} ethereum"] for s in expected)


def test_front_run_of_every_root_is_ignored(anvil, attacker, accounts_of, tmp_path):
    """A stranger reads the roots (from the record, or the mempool) and anchors each first, with
    junk prevRoot and recordDigest. The honest anchors still go through and verify; the
    stranger's are neither found nor counted."""
    from provenance.training import TrainOptions, run_training

    off = write_config(tmp_path / "off.json", anvil, NO_ANCHORS)
    run = run_training(TrainOptions(epochs=1, base_dir=str(tmp_path / "runs"), run_id="front-run", config=str(off)))
    record = Record.load(run.run_dir / "record.json")
    for stage in record.stages:
        junk = attacker.anchor(stage.root, b"junk record", os.urandom(32))
        assert junk.state is AnchorState.CONFIRMED
    on = write_config(tmp_path / "on.json", anvil)
    done = cli("anchor", str(run.run_dir), "--config", str(on), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    code, report = verify(run.run_dir, on)
    assert code == 0, failed(report)
    assert set(report["submitters"].values()) == {accounts_of[0]}


def crash(base: Path, run_id: str, config: Path, kill_at: str) -> subprocess.Popen:
    """Start the crash script and return once it has reached `kill_at` (still alive)."""
    process = subprocess.Popen([sys.executable, "-m", "tests.security.crash_run", str(base), run_id, str(config), kill_at],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    if line != f"at {kill_at}":
        process.kill()
        raise AssertionError(f"crash script: {line!r} {process.stderr.read()[-2000:]}")
    return process


@pytest.mark.parametrize("kill_at", ["pre", "epoch-1", "epoch-2", "post"])
def test_sigkill_at_each_stage_then_recover(config_path, tmp_path, kill_at):
    base = tmp_path / "runs"
    process = crash(base, "crashed", config_path, kill_at)
    process.send_signal(signal.SIGKILL)
    process.wait()
    run_dir = base / "crashed"
    order = ["pre", "epoch-1", "epoch-2", "post"]
    anchored = order[: order.index(kill_at) + 1]
    saved = [s["name"] for s in json.loads((run_dir / "record.json").read_text())["stages"]]
    assert saved == (["pre"] if kill_at != "post" else order)  # epoch trees reach record.json with post
    if kill_at.startswith("epoch"):
        status = cli("status", str(run_dir), "--config", str(config_path))
        assert f"the outbox knows more than record.json ({', '.join(anchored[1:])}): run `provenance recover" in status.stdout
    done = cli("recover", str(run_dir), "--json")
    assert done.returncode == 0, done.stderr
    recovery = json.loads(done.stdout)
    assert recovery["stages"] == anchored and recovery["not_anchored"] == []
    assert recovery["recovered"] == (anchored[1:] if kill_at.startswith("epoch") else [])
    assert {stage: states["ethereum"] for stage, states in recovery["anchors"].items()} == {s: "confirmed" for s in anchored}
    code, report = verify(run_dir, config_path)
    if kill_at == "post":
        assert code == 0 and report["verdict"] == "PASSED", failed(report)
    else:
        assert code == 1 and report["verdict"] == "INCOMPLETE", failed(report)
        assert report["missing"] == [f"no post-training tree: the run stops at {kill_at!r} (crashed or cut short?)"]
        assert {s for s, by in report["submitters"].items()} == set(anchored)


def test_same_run_id_twice_at_once_is_refused(config_path, tmp_path):
    base = tmp_path / "runs"
    first = crash(base, "shared", config_path, "pre")  # holds the run folder, alive
    try:
        before = {p: p.read_bytes() for p in (base / "shared").rglob("*") if p.is_file()}
        second = cli("train", "--epochs", "1", "--base-dir", str(base), "--run-id", "shared", "--config", str(config_path))
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert "run id 'shared': expected a run id not in use, found" in second.stderr and "held by another training" in second.stderr
        with pytest.raises(Exception, match="held by another training"):
            ProvenanceTracker(base, str(config_path), run_id="shared")
        assert {p: p.read_bytes() for p in (base / "shared").rglob("*") if p.is_file()} == before
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the first run ended (killed): its id is still refused, for it is anchored
    again = cli("train", "--epochs", "1", "--base-dir", str(base), "--run-id", "shared", "--config", str(config_path))
    assert again.returncode == 2 and "expected a new run id, found" in again.stderr and "never overwritten" in again.stderr


@pytest.mark.parametrize("run_id", ["../../escaped", "/tmp/absolute", "a/b"])
def test_run_ids_outside_the_base_dir_are_refused(config_path, tmp_path, run_id):
    base = tmp_path / "deep" / "runs"
    done = cli("train", "--epochs", "1", "--base-dir", str(base), "--run-id", run_id, "--config", str(config_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "run id: expected 1-128 letters, digits" in done.stderr
    assert not (tmp_path / "escaped").exists() and not base.exists()
