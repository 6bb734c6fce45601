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
