"""Where MLProvenance is deployed, per chain id: a small versioned JSON file in the data folder.

`ape run deploy` and the embedded local chain write it; the Ethereum backend reads it, so a user
names a network and the tool finds the contract.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ...errors import FormatError
from ...files import atomic_write_json, data_home, read_json

FORMAT = "provenance-deployments/v1"


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    address: str
    tx_hash: str
    block_number: int
    network: str


def deployments_path() -> Path:
    return data_home() / "deployments.json"


def load_all(path: Path | None = None) -> dict[int, Deployment]:
    path = path or deployments_path()
    if not path.exists():
        return {}
    data = read_json(path, "deployments file")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise FormatError(f"{path}: expected format {FORMAT!r}, found {found!r}")
    try:
        return {int(k): Deployment(**v) for k, v in data.get("deployments", {}).items()}
    except (TypeError, ValueError, AttributeError) as e:
        raise FormatError(f"{path}: malformed deployment entry ({e})") from None


def lookup(chain_id: int, path: Path | None = None) -> Deployment | None:
    return load_all(path).get(chain_id)


def record(deployment: Deployment, path: Path | None = None) -> Path:
    """Add or replace the deployment for its chain id (atomically)."""
    path = path or deployments_path()
    entries = load_all(path)
    entries[deployment.chain_id] = deployment
    return atomic_write_json(
        path, {"format": FORMAT, "deployments": {str(k): asdict(v) for k, v in sorted(entries.items())}}
    )
