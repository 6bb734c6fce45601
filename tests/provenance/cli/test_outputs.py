"""What the commands print: `tree --leaves`, `--json` on every printing command (valid JSON on
stdout, stable keys, nothing else there), `status` as text people read."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from provenance.record import Record
from tests.support.cli import cli


def test_tree_leaves_of_one_kind(trained_run):
    record = Record.load(trained_run.run_dir / "record.json")
    expected = [x for x in record.stage("post").leaves if x.kind == "results"]
    done = cli("tree", str(trained_run.run_dir), "--stage", "post", "--leaves", "--kind", "results")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split() for line in lines] == [["results", "0x" + x.digest.hex(), str(x.size), x.name] for x in expected]

    done = cli("tree", str(trained_run.run_dir), "--stage", "pre", "--leaves", "--kind", "data.sample", "--json")
    data = json.loads(done.stdout)
    assert set(data) == {"stage", "root", "kinds", "leaves"} and data["kinds"] == ["data.sample"]
    assert data["root"] == trained_run.roots["pre"]
    assert len(data["leaves"]) == 1797 and data["leaves"][123]["name"] == "train/000123"
    assert set(data["leaves"][0]) == {"kind", "name", "digest", "size"}


def test_tree_leaves_of_every_kind_and_kind_alone(trained_run):
    every = json.loads(cli("tree", str(trained_run.run_dir), "--stage", "epoch-1", "--leaves", "--json").stdout)
    assert {x["kind"] for x in every["leaves"]} == set(every["kinds"]) >= {"model.param", "model.file", "metrics", "chain.prev"}
    alone = json.loads(cli("tree", str(trained_run.run_dir), "--stage", "epoch-1", "--kind", "chain.prev", "--json").stdout)
    assert alone["leaves"] == [{"kind": "chain.prev", "name": "pre", "digest": trained_run.roots["pre"], "size": 0}]


@pytest.mark.parametrize("args, message", [
    (["--stage", "epoch-9", "--leaves"], "error: --stage: expected one of pre, epoch-1, post, found 'epoch-9'"),
    (["--stage", "post", "--leaves", "--kind", "data.sample"],
     "error: --kind: expected one of chain.prev, model.file, model.param, results (the kinds in tree post), found 'data.sample'"),
    (["--leaves"], "error: --leaves needs --stage: one tree at a time (see `provenance tree -h`)"),
    (["--kind", "metrics"], "error: --kind needs --stage: one tree at a time (see `provenance tree -h`)"),
])
def test_tree_leaves_bad_input(trained_run, args, message):
    done = cli("tree", str(trained_run.run_dir), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == message
    assert not done.stdout


def test_prove_json(trained_run, tmp_path):
    out = tmp_path / "proof.json"
    done = cli("prove", str(trained_run.run_dir), "--leaf", "model.param:classifier.3.bias", "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"path", "kind", "name", "stage", "chain", "submitter", "nested", "shard", "index", "proof"}
    assert data["path"] == str(out) and data["chain"] == ["pre", "epoch-1", "post"] and data["nested"] is False
    assert data["proof"] == json.loads(out.read_text())
    assert data["submitter"] == data["proof"]["submitter"]


def _json_commands(trained_run, tmp_path):
    run = str(trained_run.run_dir)
    (tmp_path / "a.bin").write_bytes(b"abc")
    proof = tmp_path / "p.json"
    cli("prove", run, "--leaf", "config:epochs", "-o", str(proof))
    files = tmp_path / "ds" / "part-0"
    files.mkdir(parents=True)
    for i in range(3):
        (files / f"{i}.bin").write_bytes(bytes([i]) * 10)
    return {  # command -> the keys its --json object has (a list: those of its first item)
        "status": (["status"], {"blockchain_enabled", "networks", "outbox", "next"}),
        "status RUN": (["status", run], {"blockchain_enabled", "networks", "run_id", "stored_hashes", "outbox", "saved_verdict", "recover", "next"}),
        "verify": (["verify", run], {"format", "run_id", "ok", "verdict", "checks", "changes", "anchors"}),
        "prove": (["prove", run, "--leaf", "config:seed", "-o", str(tmp_path / "q.json")], {"path", "chain", "proof"}),
        "check-proof": (["check-proof", str(proof)], {"ok", "offline_only", "submitter", "checks"}),
        "tree": (["tree", run], {"stage", "root", "prev", "leaves"}),
        "tree --leaves": (["tree", run, "--stage", "pre", "--leaves"], {"stage", "root", "kinds", "leaves"}),
        "hash": (["hash", str(tmp_path / "a.bin")], None),
        "anchor": (["anchor", run], set()),
        "runs": (["runs", "--base-dir", str(trained_run.run_dir.parent)], {"id", "verdict", "anchors", "error"}),
        "hash-dataset": (["hash-dataset", str(tmp_path / "ds")], {"engine", "dataset", "root"}),
    }


def test_json_on_every_printing_command(trained_run, tmp_path):
    for name, (args, keys) in _json_commands(trained_run, tmp_path).items():
        done = cli(*args, "--json")
        assert done.returncode == 0, (name, done.stdout, done.stderr)
        data = json.loads(done.stdout)  # stdout is JSON and nothing else
        item = data[0] if isinstance(data, list) else data
        if keys is not None:
            assert keys <= set(item), (name, sorted(item))
        assert not done.stderr, (name, done.stderr)


def test_recover_json(trained_run, tmp_path):
    folder = tmp_path / trained_run.run_dir.name
    shutil.copytree(trained_run.run_dir, folder)  # another folder: the outbox has nothing for it
    done = cli("recover", str(folder), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"run_id", "run_dir", "stages", "recovered", "anchors", "not_anchored", "written"}
    assert data["stages"] == ["pre", "epoch-1", "post"] and data["recovered"] == [] and data["not_anchored"] == []

    (folder / "record.json").unlink()  # now nothing to recover from: one line, exit 2, no JSON
    done = cli("recover", str(folder), "--json")
    assert done.returncode == 2 and not done.stdout
    assert len(done.stderr.strip().splitlines()) == 1 and "nothing to recover" in done.stderr


def test_status_run_is_text_with_short_roots_and_next_step(trained_run):
    done = cli("status", str(trained_run.run_dir))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "{" not in text and "'" not in text  # no dict repr
    assert text.splitlines()[0] == "run digits-e2e: anchoring on (ethereum)"
    for stage, root in trained_run.roots.items():
        assert re.search(rf"^  {re.escape(stage)}\s+{root[:10]}\.\.\.{root[-4:]}\s+confirmed$", text, re.M), (stage, text)
    assert "last saved verdict: PASSED (report.json of " in text
    assert f"next: run `provenance verify {trained_run.run_dir}`" in text


def test_status_run_points_at_what_is_not_confirmed(trained_run, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(trained_run.run_dir, folder)  # another folder: the outbox has nothing for it
    record = json.loads((folder / "record.json").read_text())
    for receipt in record["receipts"]:
        if receipt["stage"] == "epoch-1":
            receipt["state"] = "submitted"
    (folder / "record.json").write_text(json.dumps(record))
    done = cli("status", str(folder))
    assert re.search(r"^  epoch-1\s+0x\w{8}\.\.\.\w{4}\s+submitted \(1 conf\.\)$", done.stdout, re.M), done.stdout
    assert f"next: run `provenance anchor {folder}` to anchor what is not confirmed (epoch-1/ethereum)" in done.stdout
    data = json.loads(cli("status", str(folder), "--json").stdout)
    assert data["next"].startswith(f"run `provenance anchor {folder}`")


def test_status_without_run_describes_networks_in_words(trained_run):
    done = cli("status")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "anchoring: on (ethereum)"
    assert lines[1].startswith("  ethereum  endpoint http://127.0.0.1:") and "chain id 31337" in lines[1]
    assert "{" not in done.stdout
    assert re.match(r"outbox: (\d+ \w+(, )?)+$", lines[2]), lines[2]


def test_status_run_without_post_says_it_is_incomplete(trained_run, tmp_path):
    folder = tmp_path / "cut"
    shutil.copytree(trained_run.run_dir, folder)
    record = json.loads((folder / "record.json").read_text())
    record["stages"] = [s for s in record["stages"] if s["name"] != "post"]
    record["receipts"] = [r for r in record["receipts"] if r["stage"] != "post"]
    (folder / "record.json").write_text(json.dumps(record))
    data = json.loads(cli("status", str(folder), "--json").stdout)
    assert [h["stage"] for h in data["stored_hashes"]] == ["pre", "epoch-1"]
    assert data["next"].startswith("no post-training tree yet: the run is incomplete")
    assert data["saved_verdict"] == {"verdict": "PASSED", "saved_at": data["saved_verdict"]["saved_at"], "current": False}
    text = cli("status", str(folder)).stdout
    assert "about older trees" in text and "next: no post-training tree yet" in text
