"""The ABI and bytecode shipped in the Python package equal a fresh compile of the contract."""

from provenance.anchors.ethereum.contract import artifact, artifact_from_contract_type


def test_packaged_artifact_matches_compile(project):
    contract_type = project.MLProvenance.contract_type
    fresh = artifact_from_contract_type(contract_type, contract_type.source_id)
    assert artifact() == fresh, "provenance/anchors/ethereum/MLProvenance.json is stale: run `ape run export_artifact`"
