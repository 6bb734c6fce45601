"""The `provenance` command: exit codes, --json output, proofs checked on-chain, clear errors."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import cli


def test_status_json(trained_run):
    done = cli("status", str(trained_run.run_dir), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["blockchain_enabled"] and data["networks"] == ["ethereum"]
    assert [h["stage"] for h in data["stored_hashes"]] == ["pre", "epoch-1", "post"]


def test_tree_json_and_dump(trained_run, tmp_path):
    done = cli("tree", str(trained_run.run_dir), "--json")
    assert done.returncode == 0
    trees = json.loads(done.stdout)
    assert [t["root"] for t in trees] == [trained_run.roots[t["stage"]] for t in trees]
    dump = tmp_path / "pre.json"
    assert cli("tree", str(trained_run.run_dir), "--stage", "pre", "--dump", str(dump)).returncode == 0
    from provenance.merkle import MerkleTree

    assert "0x" + MerkleTree.load(json.loads(dump.read_text())).root.hex() == trained_run.roots["pre"]


def test_prove_and_check_proof_on_chain(trained_run, tmp_path):
    proof = tmp_path / "p.json"
    done = cli("prove", str(trained_run.run_dir), "--leaf", "data.sample:train/000123", "-o", str(proof))
    assert done.returncode == 0, done.stderr
    bundle = json.loads(proof.read_text())
    assert [s["stage"] for s in bundle["steps"]] == ["pre", "epoch-1", "post"]
    done = cli("check-proof", str(proof), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    checks = json.loads(done.stdout)["checks"]
    assert any(c["name"] == "on-chain post" and c["ok"] for c in checks)
    assert any(c["name"] == "on-chain pre" and c["ok"] for c in checks)


def test_tampered_proof_fails(trained_run, tmp_path):
    proof = tmp_path / "p.json"
    cli("prove", str(trained_run.run_dir), "--leaf", "model.param:classifier.3.bias", "-o", str(proof))
    bundle = json.loads(proof.read_text())
    bundle["steps"][0]["leaf"][3] = str(int(bundle["steps"][0]["leaf"][3]) + 1)
    proof.write_text(json.dumps(bundle))
    done = cli("check-proof", str(proof), "--json")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert not data["ok"]
    assert any(not c["ok"] and c["name"] == "pre: model.param:classifier.3.bias" for c in data["checks"])


def test_hash_json(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"hello")
    done = cli("hash", str(tmp_path), "--json")
    assert done.returncode == 0
    import blake3

    assert json.loads(done.stdout) == [["file", "a.bin", "0x" + blake3.blake3(b"hello").hexdigest(), "5"]]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["verify", "no-such-run"], 2, "error: run 'no-such-run': expected a run folder with record.json"),
        (["prove", "RUN", "--leaf", "nocolon"], 2, "expected KIND:NAME"),
        (["prove", "RUN", "--leaf", "data.sample:train/999999"], 2, "error: run digits-e2e: no leaf data.sample:train/999999 in any tree"),
        (["check-proof", "/nonexistent/proof.json"], 2, "error: proof file /nonexistent/proof.json not found"),
        (["status", "--config", "/nonexistent.json"], 2, "error: config: /nonexistent.json does not exist"),
        (["train", "--epochs", "0"], 2, "Invalid value for '--epochs'"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code(trained_run, args, code, message):
    args = [str(trained_run.run_dir) if a == "RUN" else a for a in args]
    done = cli(*args)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_network_exit_code(trained_run, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"blockchain": {"ethereum": {"network": "http://127.0.0.1:9", "request_timeout": 1}}}))
    proof = tmp_path / "p.json"
    cli("prove", str(trained_run.run_dir), "--leaf", "config:epochs", "-o", str(proof))
    done = cli("check-proof", str(proof), "--config", str(config))
    assert done.returncode == 3
    assert done.stderr.strip() == "error: cannot reach Ethereum RPC at http://127.0.0.1:9: connection refused or host unreachable"


def test_invalid_record_file(tmp_path):
    run = tmp_path / "broken"
    run.mkdir()
    (run / "record.json").write_text('{"format": "provenance-record/v0"}')
    done = cli("verify", str(run))
    assert done.returncode == 2
    assert "expected format 'provenance-record/v2' or 'provenance-record/v1', found 'provenance-record/v0'" in done.stderr
