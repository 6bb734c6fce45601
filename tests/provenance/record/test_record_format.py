"""`provenance-record/v2` snapshots are RFC 8785 bytes that another language recomputes;
`provenance-record/v1` records keep their Python encoding and still verify."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from provenance import ProvenanceTracker
from provenance.digests.canonical import canonical_json, jcs
from provenance.errors import FormatError
from provenance.merkle import Leaf
from provenance.record import FORMAT, FORMAT_V1, Record, Stage

ROOT = Path(__file__).resolve().parents[3]
# npm `canonicalize` (erdtman), an RFC 8785 implementation independent of PyPI `rfc8785`.
NODE_DIGEST = """
const canonicalize = require("canonicalize");
const crypto = require("crypto");
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const bytes = Buffer.from(canonicalize(JSON.parse(input)), "utf8");
  process.stdout.write(crypto.createHash("sha256").update(bytes).digest("hex") + "\\n" + bytes.toString("base64"));
});
"""


def record(fmt: str = FORMAT) -> Record:
    """A record whose snapshot holds what v1 spells in Python's own way: small and large floats,
    non-ASCII text, keys whose UTF-16 and code point orders differ."""
    leaves = [Leaf("data.sample", "train/0", bytes(range(32)), 784), Leaf("config", "lr", b"\x01" * 32, 0)]
    pre = Stage.build("pre", leaves, None, "2026-11-29T00:00:00+00:00")
    epoch = Stage.build("epoch-1", leaves[:1], pre, "2026-11-29T00:01:00+00:00",
                        metrics={"loss": 1e-05, "big": 1e21, "ratio": 0.1 + 0.2, "count": 3, "neg": -0.0})
    return Record("canon", "provenance-canonical/v1", config={"lr": 1e-3, "delta": 1e-5, "naïve": "é€𝄞", "\ue000": 1, "\U0001f600": 2},
                  stages=[pre, epoch], format=fmt)


def node_digest(value) -> tuple[str, bytes]:
    done = subprocess.run(["node", "-e", NODE_DIGEST], input=json.dumps(value), capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    digest, encoded = done.stdout.split("\n")
    return digest, base64.b64decode(encoded)


@pytest.mark.parametrize("stage", ["pre", "epoch-1"])
def test_a_v2_record_digest_is_recomputed_by_another_rfc8785_implementation(stage):
    run = record()
    digest, node_bytes = node_digest(run.snapshot(stage))
    assert run.snapshot_bytes(stage) == node_bytes
    assert run.snapshot_digest(stage).hex() == digest
    if stage == "epoch-1":  # the case v1 could not give another language: Python's float spelling
        assert canonical_json(run.snapshot(stage)) != node_bytes and b"0.00001" in node_bytes


def test_a_v1_record_keeps_the_python_encoding_when_loaded_and_saved(tmp_path):
    old = record(FORMAT_V1)
    path = old.save(tmp_path / "record.json")
    loaded = Record.load(path)
    assert loaded.format == FORMAT_V1 and json.loads(path.read_text())["format"] == FORMAT_V1
    snapshot = loaded.snapshot("epoch-1")
    assert loaded.snapshot_bytes("epoch-1") == canonical_json(snapshot) != jcs(snapshot)
    assert loaded.snapshot_digest("epoch-1") == hashlib.sha256(canonical_json(snapshot)).digest()


def test_an_unknown_record_format_is_refused():
    data = record().to_json() | {"format": "provenance-record/v3"}
    with pytest.raises(FormatError, match="expected format 'provenance-record/v2' or 'provenance-record/v1', found 'provenance-record/v3'"):
        Record.from_json(data)


def test_v2_refuses_integers_no_other_language_reads_exactly():
    run = record()
    run.config["huge"] = 2**60
    with pytest.raises(FormatError, match=r"expected a finite number or a value RFC 8785 canonical JSON can encode"):
        run.snapshot_bytes("pre")


def test_a_v1_run_anchored_with_v1_digests_still_verifies(tmp_path):
    """A run whose record is v1 from its first stage (as every run made before v2): anchored with
    the v1 digests, verified from its folder by today's code."""
    tracker = ProvenanceTracker(tmp_path / "artifacts", {}, run_id="v1-run")
    tracker.record.format = FORMAT_V1  # what the tracker wrote before v2
    rng = np.random.default_rng(0)
    tracker.track_data((rng.random((8, 1, 4, 4), dtype=np.float32), rng.integers(0, 10, 8)))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 10))
    tracker.track_model(net)
    tracker.store_merkle_on_blockchain_before_training({"lr": 1e-05, "epochs": 1})
    tracker.track_epoch(1, net, {"loss": 1e-05})
    tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.5})
    run_dir = tracker.save().parent
    assert json.loads((run_dir / "record.json").read_text())["format"] == FORMAT_V1

    report = tracker.verify_blockchain_provenance()  # verify_run on the run folder: record.json as saved
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    digests = [c for c in report["checks"] if c["name"].startswith("record digest")]
    assert len(digests) == 3 and all(c["ok"] for c in digests)


def test_a_value_read_back_from_a_v2_snapshot_gives_the_same_leaf():
    """RFC 8785 writes 1.0 as 1, so a record rebuilt from its snapshot (`provenance recover`)
    holds 1: a v2 record's value leaves are RFC 8785 too, where the two are one number."""
    from provenance.digests.context import value_leaf

    back = json.loads(jcs({"loss": 1.0}))["loss"]
    assert back == 1 and isinstance(back, int)
    assert value_leaf("metrics", "loss", back, jcs) == value_leaf("metrics", "loss", 1.0, jcs)
    assert value_leaf("metrics", "loss", back) != value_leaf("metrics", "loss", 1.0)  # what v1's encoding would do
    assert record().value_encoding is jcs and record(FORMAT_V1).value_encoding is canonical_json


ODD_NAMES = ["é€𝄞", "quote\" back\\slash", "ctrl \x00\x01\x1f\x7f", "line\u2028sep", "\ue000", ""]


def odd_record() -> Record:
    """Leaf names with every character class JSON encoders treat differently."""
    leaves = [Leaf("data.sample", name, bytes([i]) * 32, i) for i, name in enumerate(ODD_NAMES)]
    pre = Stage.build("pre", leaves, None, "2026-11-29T00:00:00+00:00")
    return Record("odd", "provenance-canonical/v1", config={"naïve": "\x1f"}, stages=[pre, Stage.build("post", leaves[:2], pre, "t")])


def test_the_record_file_is_the_compact_json_of_the_record(tmp_path):
    """Saved from each stage's cached encoding: the same bytes as encoding the whole record."""
    run = odd_record()
    for _ in range(2):  # the second save reuses the cached stage encodings
        path = run.save(tmp_path / "record.json")
        assert path.read_bytes() == json.dumps(run.to_json(), separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    assert Record.load(path).to_json() == run.to_json()


@pytest.mark.parametrize("stage", ["pre", "post"])
def test_odd_leaf_names_give_the_rfc8785_snapshot(stage):
    run = odd_record()
    assert run.snapshot_bytes(stage) == jcs(run.snapshot(stage))
    assert node_digest(run.snapshot(stage))[1] == run.snapshot_bytes(stage)


@pytest.mark.parametrize("fmt", [FORMAT, FORMAT_V1])
def test_a_snapshot_follows_every_change_of_the_values_it_reuses(fmt):
    """The config, code and environment encodings are reused between snapshots only while they
    are the same JSON: changed in place, retyped or made unencodable, each snapshot is still the
    whole record's encoding."""
    run = record(fmt)
    encode = jcs if fmt == FORMAT else canonical_json
    assert run.snapshot_bytes("epoch-1") == encode(run.snapshot("epoch-1"))
    run.environment["packages"] = {"torch": "2.5.1"}  # in place
    assert run.snapshot_bytes("epoch-1") == encode(run.snapshot("epoch-1"))
    run.config["lr"] = 1.0  # a changed value
    assert run.snapshot_bytes("epoch-1") == encode(run.snapshot("epoch-1"))
    run.code = {"git": {"commit": "ab" * 20, "dirty": True}}  # replaced
    assert run.snapshot_bytes("pre") == encode(run.snapshot("pre"))
    run.config["bad"] = float("nan")
    with pytest.raises(FormatError):
        run.snapshot_bytes("pre")
