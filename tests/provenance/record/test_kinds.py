"""The registry of leaf kinds (`provenance.record.kinds`): every kind the tracker writes has a row,
verification re-hashes each through its row, and a new row is all verification needs."""

from __future__ import annotations

import json

import pytest

from provenance.merkle import Leaf
from provenance.record import CHAIN_PREV, Record, kinds
from provenance.verification.verify import verify_run


def test_every_kind_the_tracker_writes_is_registered_and_rehashed(trained_run):
    record = json.loads((trained_run.run_dir / "record.json").read_text())
    written = {(stage["name"], leaf[0]) for stage in record["stages"] for leaf in stage["leaves"]}
    assert {kind for _, kind in written} >= {"data.sample", "model.param", "model.file", "config", "code.git", "env",
                                             "metrics", "results", "identity.ethereum", "run.nonce", CHAIN_PREV}
    assert {kind for _, kind in written} <= set(kinds.KINDS)
    report = verify_run(trained_run.run_dir)
    checks = {c.name: c for c in report.checks}
    for stage, kind in written:
        if kinds.KINDS[kind].rehash is None:
            assert kind == CHAIN_PREV and checks[f"chain {stage}"].ok  # its own step
        else:
            assert checks[f"{stage} {kind}"].ok and "re-hashed, all equal" in checks[f"{stage} {kind}"].detail


def test_the_tracker_makes_its_leaves_through_the_registry(trained_run):
    """What `make` gives for the run's own artifacts is what its trees hold."""
    record = Record.load(trained_run.run_dir / "record.json")
    pre = record.stage("pre")
    held = lambda kind: sorted(x for x in pre.leaves if x.kind == kind)  # noqa: E731
    config = json.loads((trained_run.run_dir / "config.json").read_text())
    assert held("config") == sorted(kinds.make("config", config, record.value_encoding))
    assert held("code.git") == sorted(kinds.make("code.git", record.code))
    assert held("run.nonce") == kinds.make("run.nonce", held("run.nonce")[0].digest)
    assert held("identity.ethereum") == kinds.make("identity.ethereum", held("identity.ethereum")[0].name)
    with pytest.raises(Exception, match="made by Stage.build"):
        kinds.make(CHAIN_PREV)


def test_a_new_kind_is_one_row(run_copy, monkeypatch):
    """A kind verification has never heard of fails; its row alone makes it re-hashed and checked."""
    artifact = run_copy / "notes.txt"
    artifact.write_text("tokenizer v2")

    def notes(files, stage):
        return [Leaf("notes.file", "notes.txt", __import__("blake3").blake3((files.run_dir / "notes.txt").read_bytes()).digest(),
                     len((files.run_dir / "notes.txt").read_bytes()))]

    path = run_copy / "record.json"
    record = json.loads(path.read_text())
    post = record["stages"][-1]
    leaf = notes(kinds.RunFiles(None, run_copy, None, None), None)[0]
    post["leaves"].append([leaf.kind, leaf.name, "0x" + leaf.digest.hex(), str(leaf.size)])
    post["leaf_count"] += 1
    path.write_text(json.dumps(record))
    unknown = {c.name: c for c in verify_run(run_copy).checks}["post notes.file"]
    assert not unknown.ok and "no way to re-hash them" in unknown.detail

    monkeypatch.setitem(kinds.KINDS, "notes.file", kinds.LeafKind("notes.file", "post", None, notes))
    known = {c.name: c for c in verify_run(run_copy).checks}["post notes.file"]
    assert known.ok and known.detail == "1 leaves re-hashed, all equal"
    artifact.write_text("tokenizer v3")
    report = verify_run(run_copy)
    assert [c.describe() for c in report.changes] == ["notes.file:notes.txt in tree 'post' changed"]
