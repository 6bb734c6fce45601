"""The compiled `MLProvenance` contract as the package ships it (ABI and bytecode)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

ARTIFACT_PATH = Path(__file__).with_name("MLProvenance.json")
ARTIFACT_FORMAT = "provenance-contract/v1"


@lru_cache(maxsize=1)
def artifact() -> dict[str, Any]:
    """ABI, creation bytecode and runtime bytecode of MLProvenance."""
    data = json.loads(ARTIFACT_PATH.read_text())
    if data.get("format") != ARTIFACT_FORMAT:
        raise RuntimeError(f"{ARTIFACT_PATH}: expected format {ARTIFACT_FORMAT!r}, found {data.get('format')!r}")
    return data


def artifact_from_contract_type(contract_type: Any, source_id: str | None) -> dict[str, Any]:
    """The artifact dict for an Ape `ContractType` (used by scripts/export_artifact.py and its test)."""
    return {
        "format": ARTIFACT_FORMAT,
        "contractName": contract_type.name,
        "sourceId": source_id,
        "abi": [abi.model_dump(mode="json", by_alias=True) for abi in contract_type.abi],
        "bytecode": contract_type.deployment_bytecode.bytecode,
        "deployedBytecode": contract_type.runtime_bytecode.bytecode,
    }


# sha256 of the runtime code of earlier releases whose anchors mean what this one's do (`anchorOf`,
# `RootAnchored`, `revoke`, the per-submitter checks), so their receipts still verify after an
# upgrade; new anchors on the embedded chain go to a fresh deployment of this release.
EARLIER_RUNTIMES = {
    "0bd15c2a17082d8e00779c76b5739596fc25789c36363f4719b14393ed1b7df2":
        "the release before the guide's verifyHash/getHashInfo showed anchor()ed roots",
}


def runtime() -> bytes:
    """The packaged runtime bytecode."""
    return bytes.fromhex(artifact()["deployedBytecode"].removeprefix("0x"))


def is_trusted_runtime(code: bytes) -> bool:
    """Whether `code` is this release's MLProvenance or an earlier one with the same anchor semantics."""
    import hashlib

    return code == runtime() or hashlib.sha256(code).hexdigest() in EARLIER_RUNTIMES
