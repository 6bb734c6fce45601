"""Write the compiled MLProvenance ABI and bytecode into the Python package.

`ape run export_artifact` after any change to contracts/MLProvenance.sol. The package reads the
artifact at run time so that `provenance` works without Ape; tests/contracts/test_artifact.py
fails when the committed artifact differs from a fresh compile.
"""

from ape import project

from provenance.anchors.ethereum.contract import ARTIFACT_PATH, artifact_from_contract_type
from provenance.files import atomic_write_json


def main() -> None:
    artifact = artifact_from_contract_type(project.MLProvenance.contract_type, project.MLProvenance.contract_type.source_id)
    atomic_write_json(ARTIFACT_PATH, artifact)
    print(f"wrote {ARTIFACT_PATH}")
