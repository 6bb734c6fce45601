"""Drive the real `@openzeppelin/merkle-tree` (npm) from the tests, through node."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Sequence

from provenance.merkle import Leaf, MultiProof

SCRIPT = Path(__file__).with_name("oz_merkle.js")
ROOT = SCRIPT.parents[2]


def _call(request: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(SCRIPT)], input=json.dumps(request), capture_output=True, text=True, cwd=ROOT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"oz_merkle.js failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def build(values: Sequence[Leaf], multiproofs: Sequence[Sequence[int]] = ()) -> dict[str, Any]:
    """OZ's dump, root, the proof of every value, and the requested multiproofs."""
    return _call({"command": "build", "values": [v.to_json() for v in values], "multiproofs": [list(m) for m in multiproofs]})


def verify(root: bytes, items: Sequence[tuple[Leaf, Sequence[bytes]]], multiproofs: Sequence[MultiProof] = ()) -> dict[str, list[bool]]:
    """OZ's verdict on our proofs and multiproofs."""
    return _call(
        {
            "command": "verify",
            "root": "0x" + root.hex(),
            "items": [{"value": v.to_json(), "proof": ["0x" + p.hex() for p in proof]} for v, proof in items],
            "multiproofs": [
                {
                    "leaves": [v.to_json() for v in m.leaves],
                    "proof": ["0x" + p.hex() for p in m.proof],
                    "proofFlags": list(m.proof_flags),
                }
                for m in multiproofs
            ],
        }
    )
