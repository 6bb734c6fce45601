"""Regenerate the bad-input corpus beside this file from one small valid record and proof.

    .venv/bin/python tests/data/bad_inputs/generate.py

Each file is malformed or hostile in one way; cases.json says which command gets it and what
one-line error (and exit code) must come back. The files are committed; this script only
documents how they were made.
"""

from __future__ import annotations

import copy
import json
import struct
from pathlib import Path

from provenance.record.receipts import AnchorState, Receipt
from provenance.merkle import Leaf
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

    images = struct.pack(">IIII", 0x00000803, 4, 28, 28) + bytes(4 * 28 * 28)
    labels = struct.pack(">II", 0x00000801, 4) + bytes(4)
    for name, data in (("idx-truncated", images[:-100]), ("idx-bad-magic", b"\x01\x02" + images[2:])):
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        for split in ("train", "t10k"):
            (folder / f"{split}-images-idx3-ubyte").write_bytes(data)
            (folder / f"{split}-labels-idx1-ubyte").write_bytes(labels)
    write("deployments-corrupt.json", b'{"format": "provenance-deployments/v1", "deployments": {"31337": ')


if __name__ == "__main__":
    main()
