"""Regenerate the bad-input corpus beside this file from one small valid record and proof.

    .venv/bin/python tests/data/bad_inputs/generate.py

Each file is malformed or hostile in one way; cases.json says which command gets it and what
one-line error (and exit code) must come back. The files are committed; this script only
documents how they were made.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import struct
import tempfile
from pathlib import Path

import numpy as np

from provenance.record.receipts import AnchorState, Receipt
from provenance.merkle import Leaf
from provenance.anchoring.outbox import Outbox
from provenance.verification.proofs import prove
from provenance.record import Record, Stage

HERE = Path(__file__).parent


def write(name: str, value) -> None:
    data = value if isinstance(value, bytes) else (json.dumps(value, indent=1) + "\n").encode()
    (HERE / name).write_bytes(data)


def main() -> None:
    record = Record("corpus", "provenance-canonical/v1", config={"epochs": 1})
    pre = Stage.build("pre", [Leaf("data.sample", f"train/{i:06d}", bytes([i + 1]) * 32, 64) for i in range(3)], None, "2026-11-26T00:00:00+00:00")
    post = Stage.build("post", [Leaf("results", "accuracy", bytes([9]) * 32, 5)], pre, "2026-11-26T00:01:00+00:00")
    record.stages = [pre, post]
    record.set_receipt("post", Receipt("ethereum", post.root, AnchorState.CONFIRMED, {"chain_id": 1, "contract": "0x" + "11" * 20, "tx_hash": "0x" + "22" * 32}, 1))
    good = record.to_json()
    text = json.dumps(good, indent=1)

    def edited(change) -> dict:
        data = copy.deepcopy(good)
        change(data)
        return data

    write("record-valid.json", good)
    write("record-truncated.json", text[: len(text) // 2].encode())
    write("record-wrong-version.json", edited(lambda d: d.update(format="provenance-record/v0")))
    write("record-wrong-merkle.json", edited(lambda d: d.update(merkle="standard-v1")))
    write("record-not-object.json", [good])
    write("record-stages-not-list.json", edited(lambda d: d.update(stages={"pre": d["stages"][0]})))
    write("record-leaf-count.json", edited(lambda d: d["stages"][0]["leaves"].pop()))
    write("record-nonhex-digest.json", edited(lambda d: d["stages"][0]["leaves"][0].__setitem__(2, "0x" + "zz" * 32)))
    write("record-short-digest.json", edited(lambda d: d["stages"][0]["leaves"][0].__setitem__(2, "0x1234")))
    write("record-huge-size.json", edited(lambda d: d["stages"][0]["leaves"][1].__setitem__(3, str(2**256))))
    write("record-negative-size.json", edited(lambda d: d["stages"][0]["leaves"][1].__setitem__(3, -1)))
    write("record-receipt-state.json", edited(lambda d: d["receipts"][0].update(state="done")))
    write("record-receipt-root.json", edited(lambda d: d["receipts"][0].update(root="0xabc")))
    write("record-binary.json", bytes(range(256)))

    bundle = prove(record, "data.sample", "train/000001").to_json()

    def proof(change) -> dict:
        data = copy.deepcopy(bundle)
        change(data)
        return data

    write("proof-wrong-format.json", proof(lambda d: d.update(format="provenance-proof/v0")))
    write("proof-short-node.json", proof(lambda d: d["steps"][0]["proof"].__setitem__(0, "0x12")))
    write("proof-nonhex-node.json", proof(lambda d: d["steps"][0]["proof"].__setitem__(0, "0x" + "gg" * 32)))
    write("proof-no-steps.json", proof(lambda d: d.update(steps=[])))
    write("proof-invalid.json", b'{"format": "provenance-proof/v1", "steps": [')
    write("proof-extra-node.json", proof(lambda d: d["steps"][0]["proof"].append("0x" + "33" * 32)))
    other = Stage.build("pre", [Leaf("data.sample", "train/000001", bytes([2]) * 32, 64), Leaf("x", "y", bytes(32), 0)], None, "")
    write("proof-other-root.json", proof(lambda d: d["steps"][0].update(root="0x" + other.root.hex())))
    write("proof-huge-size.json", proof(lambda d: d["steps"][0]["leaf"].__setitem__(3, "9" * 100)))

    write("config-wrong-type.json", {"blockchain": {"ethereum": {"confirmations": "one"}}})
    write("config-private-key.json", {"blockchain": {"ethereum": {"private_key": "0x" + "ab" * 32}}})
    write("config-unknown-network.json", {"blockchain": {"networks": ["ethereum", "dogecoin"]}})
    write("config-invalid.json", b"{blockchain: yes}")
    write("config-unknown-key.json", {"storage_option": {}})
    write("config-negative-confirmations.json", {"blockchain": {"ethereum": {"confirmations": -5}}})
    write("config-section-not-object.json", {"blockchain": 5})
    write("config-huge-number.json", {"blockchain": {"ethereum": {"request_timeout": 1e400}}})
    write("config-short-address.json", {"blockchain": {"ethereum": {"contract_address": "0x123"}}})

    images = struct.pack(">IIII", 0x00000803, 4, 28, 28) + bytes(4 * 28 * 28)
    labels = struct.pack(">II", 0x00000801, 4) + bytes(4)
    for name, data in (("idx-truncated", images[:-100]), ("idx-bad-magic", b"\x01\x02" + images[2:])):
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        for split in ("train", "t10k"):
            (folder / f"{split}-images-idx3-ubyte").write_bytes(data)
            (folder / f"{split}-labels-idx1-ubyte").write_bytes(labels)
    write("deployments-corrupt.json", b'{"format": "provenance-deployments/v1", "deployments": {"31337": ')

    # Non-finite numbers, which no record of ours holds (canonical JSON refuses them).
    write("record-nan-metric.json", text.encode()
          .replace(b'"metrics": {}', b'"metrics": {"loss": NaN}', 1))
    write("record-inf-metric.json", text.encode().replace(b'"metrics": {}', b'"metrics": {"loss": 1e400}', 1))

    # Dataset descriptors a verifier cannot re-load: the seed of the digits split.
    for name, seed in (("string", "abc"), ("negative", -1), ("huge", 2**70), ("float", 1.5)):
        write(f"record-seed-{name}.json", edited(lambda d: d["artifacts"].update(
            dataset={"source": "sklearn-digits", "seed": seed, "test_fraction": 0.2})))

    # A record naming a model file and a config file; the cases put a folder or a symlink loop there.
    files = Record("corpus-files", "provenance-canonical/v1", config={"epochs": 1})
    files.stages = [Stage.build("pre", [Leaf("model.file", "model.safetensors", bytes([5]) * 32, 10),
                                        Leaf("config", "epochs", bytes([6]) * 32, 1)], None, "2026-11-26T00:00:00+00:00")]
    files.artifacts = {"config": "config.json", "stages": {"pre": {"model": "model.safetensors"}}}
    write("record-files.json", files.to_json())

    # Outboxes that do not open: random bytes, and a real outbox whose first pages were overwritten.
    noise = b"".join(hashlib.sha256(b"outbox %d" % i).digest() for i in range(256))
    write("outbox-random.sqlite", noise)
    with tempfile.TemporaryDirectory() as folder:
        outbox = Outbox(Path(folder) / "outbox.sqlite")
        outbox.enqueue("corpus", folder, "pre", "ethereum", bytes([1]) * 32, bytes(32), b"{}", "ethereum:31337:0x")
        del outbox
        damaged = bytearray((Path(folder) / "outbox.sqlite").read_bytes())
    damaged[100:4000] = bytes(3900)
    damaged[4096:8192] = noise[:4096]
    write("outbox-damaged.sqlite", bytes(damaged))

    # IDX datasets that read but cannot be trained on: caught at load, before anything is anchored.
    def idx_folder(name: str, images: bytes, labels: bytes, gz: bool = False) -> None:
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        for split in ("train", "t10k"):
            if gz:
                (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(images, mtime=0)[:-12])
            else:
                (folder / f"{split}-images-idx3-ubyte").write_bytes(images)
            (folder / f"{split}-labels-idx1-ubyte").write_bytes(labels)

    idx_folder("idx-labels-out-of-range", images, struct.pack(">II", 0x00000801, 4) + bytes([1, 2, 200, 3]))
    idx_folder("idx-zero-samples", struct.pack(">IIII", 0x00000803, 0, 28, 28), struct.pack(">II", 0x00000801, 0))
    idx_folder("idx-truncated-gz", images, labels, gz=True)
    floats = np.zeros((4, 28, 28), dtype=">f4")
    floats[2, 3, 4] = np.nan
    idx_folder("idx-nan-features", struct.pack(">IIII", 0x00000D03, 4, 28, 28) + floats.tobytes(), labels)


if __name__ == "__main__":
    main()
