"""Verification from a fresh process catches a flipped model byte, a changed sample and an edited
config, naming the leaf and the tree, with exit code 1."""

from __future__ import annotations

import json


from provenance.training.tracker import FINAL_MODEL_FILE, INIT_MODEL_FILE

from tests.support.cli import cli


def verify_json(run_dir):
    done = cli("verify", str(run_dir), "--json")
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)


def test_untouched_run_verifies_in_a_fresh_process(trained_run):
    code, report = verify_json(trained_run.run_dir)
    assert code == 0, report
    assert report["ok"] and report["chain_integrity"]
    assert {a["stage"] for a in report["anchors"]} == {"pre", "epoch-1", "post"}
    assert all(a["ok"] and a["confirmations"] >= 1 for a in report["anchors"])


def _tensor_offset(path, name):
    """Byte offset of tensor `name`'s data in a safetensors file."""
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    return 8 + header_len + header[name]["data_offsets"][0]


def test_flipped_byte_in_model_names_tensor_and_file(run_copy):
    path = run_copy / FINAL_MODEL_FILE
    offset = _tensor_offset(path, "classifier.1.weight") + 17
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    code, report = verify_json(run_copy)
    assert code == 1
    changed = {(c["stage"], c["kind"], c["name"]) for c in report["changes"]}
    assert changed == {("post", "model.param", "classifier.1.weight"), ("post", "model.file", FINAL_MODEL_FILE)}


def test_changed_initial_weights_are_named_in_the_pre_tree(run_copy):
    path = run_copy / INIT_MODEL_FILE
    offset = _tensor_offset(path, "features.0.bias")
    data = bytearray(path.read_bytes())
    data[offset + 3] ^= 0x80
    path.write_bytes(bytes(data))
    _, report = verify_json(run_copy)
    assert ("pre", "model.param", "features.0.bias") in {(c["stage"], c["kind"], c["name"]) for c in report["changes"]}


def test_edited_config_names_the_config_leaf(run_copy):
    config = json.loads((run_copy / "config.json").read_text())
    config["learning_rate"] = 0.5
    (run_copy / "config.json").write_text(json.dumps(config))
    code, report = verify_json(run_copy)
    assert code == 1
    assert [(c["stage"], c["kind"], c["name"], c["change"]) for c in report["changes"]] == [("pre", "config", "learning_rate", "changed")]


def test_edited_record_leaf_breaks_the_anchored_root(run_copy):
    record = json.loads((run_copy / "record.json").read_text())
    leaf = record["stages"][0]["leaves"][5]
    leaf[2] = "0x" + "11" * 32
    (run_copy / "record.json").write_text(json.dumps(record))
    code, report = verify_json(run_copy)
    assert code == 1
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    assert "tree pre" in failed  # the edited leaf no longer gives the recorded root
    assert any(c["kind"] == leaf[0] and c["name"] == leaf[1] for c in report["changes"])  # and the artifact disagrees


def test_forged_record_with_recomputed_roots_is_not_anchored(run_copy):
    """An attacker who edits a leaf and recomputes every root still fails: the new roots are not on chain."""
    from provenance.record import Record, Stage

    record = Record.load(run_copy / "record.json")
    stages = []
    for stage in record.stages:
        leaves = [l for l in stage.leaves if l.kind != "chain.prev"]
        if stage.name == "pre":
            leaves = [l if l.label != "config:learning_rate" else type(l)(l.kind, l.name, bytes(32), l.size) for l in leaves]
        stages.append(Stage.build(stage.name, leaves, stages[-1] if stages else None, stage.created_at, stage.metrics))
    record.stages = stages
    record.save(run_copy / "record.json")
    code, report = verify_json(run_copy)
    assert code == 1
    assert not any(a["ok"] for a in report["anchors"])
    assert any(c["name"] == "final root anchored" and not c["ok"] for c in report["checks"])


def test_changed_sample_in_idx_dataset_is_named(tmp_path, idx_dataset):
    """MNIST-format data: one changed pixel of one training image names that sample."""
    from provenance.training import TrainOptions, run_training

    result = run_training(TrainOptions(epochs=1, mnist_dir=str(idx_dataset), base_dir=str(tmp_path / "runs"), run_id="idx"))
    assert result.verification["ok"]
    images = idx_dataset / "train-images-idx3-ubyte"
    data = bytearray(images.read_bytes())
    data[16 + 2 * 28 * 28 + 400] ^= 0xFF  # sample 2, a pixel in the middle
    images.write_bytes(bytes(data))
    code, report = verify_json(result.run_dir)
    assert code == 1
    assert [(c["stage"], c["kind"], c["name"]) for c in report["changes"]] == [("pre", "data.sample", "train/000002")]
