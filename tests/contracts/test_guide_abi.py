"""MLProvenance speaks the original system's registry ABI: the guide's exact contract text
(tests/contracts/guide/MLProvenance.sol, copied from the developer guide, compiled here with solc
and never part of the Ape project, so deployment is not disturbed) is deployed beside ours, and
both are driven through the guide's ABI with the same results. Where ours is deliberately
append-only (a repeat or a second account's `storeHash`), the test says so."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import ape
import pytest
import solcx
from ethpm_types import ContractType

from provenance.anchors.ethereum.contract import artifact

GUIDE_SOURCE = Path(__file__).with_name("guide") / "MLProvenance.sol"
META = '{"run_id": "guide-run", "stage": "pre_training", "timestamp": "2026-11-29T01:00:00"}'


@lru_cache(maxsize=1)
def compile_guide() -> ContractType:
    """The guide's contract through solc's standard JSON interface (the project's offline solc)."""
    compiled = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {"MLProvenance.sol": {"content": GUIDE_SOURCE.read_text()}},
            "settings": {"outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}}},
        },
        solc_version="0.8.28",
    )
    out = compiled["contracts"]["MLProvenance.sol"]["MLProvenance"]
    return ContractType.model_validate({
        "contractName": "GuideMLProvenance",
        "abi": out["abi"],
        "deploymentBytecode": {"bytecode": "0x" + out["evm"]["bytecode"]["object"]},
        "runtimeBytecode": {"bytecode": "0x" + out["evm"]["deployedBytecode"]["object"]},
    })


@pytest.fixture
def guide_type() -> ContractType:
    return compile_guide()


@pytest.fixture
def guide(guide_type, owner):
    """The guide's own contract, deployed."""
    return ape.contracts.ContractContainer(guide_type).deploy(sender=owner)


@pytest.fixture
def ours_as_guide(registry, guide_type, chain):
    """Our deployed MLProvenance, seen only through the guide's ABI."""
    return chain.contracts.instance_at(registry.address, contract_type=guide_type)


def signature(entry: dict) -> tuple:
    def types(params):
        return tuple((p["type"], p.get("indexed", False)) for p in params)

    return (entry["type"], entry.get("name"), types(entry.get("inputs", [])), types(entry.get("outputs", [])),
            entry.get("stateMutability"))


def test_our_abi_is_a_superset_of_the_guides(guide_type):
    ours = {signature(e) for e in artifact()["abi"]}
    theirs = {signature(e.model_dump(mode="json", by_alias=True)) for e in guide_type.abi}
    # the guide's storeHash takes `string memory` (public): the same ABI entry as our calldata one
    assert theirs, "the guide's contract compiled to an empty ABI"
    assert theirs - ours == set()


def drive(contract, sender, chain, root: bytes) -> dict:
    """What a tool written against the guide sees after one storeHash."""
    tx = contract.storeHash(root, META, sender=sender)
    stamp = chain.provider.get_block(tx.block_number).timestamp
    events = [(e.merkleRoot, e.metadata, e.timestamp) for e in tx.decode_logs(contract.HashStored)]
    return {
        "events": [(r, m, t - stamp) for r, m, t in events],
        "verifyHash": contract.verifyHash(root),
        "getHashInfo": tuple(x - stamp if isinstance(x, int) and not isinstance(x, bool) else x for x in contract.getHashInfo(root)),
        "storedHashes": contract.storedHashes(root),
        "timestamps": contract.timestamps(root) - stamp,
        "metadata": contract.metadata(root),
        "unknown": (contract.verifyHash(os.urandom(32)), tuple(contract.getHashInfo(bytes(31) + b"\x01"))),
    }


def test_ours_through_the_guides_abi_matches_the_guides_contract(guide, ours_as_guide, trainer, chain):
    root = os.urandom(32)
    theirs = drive(guide, trainer, chain, root)
    ours = drive(ours_as_guide, trainer, chain, root)
    assert ours == theirs
    # and what both show is the guide's meaning (timestamps relative to the storing block)
    assert theirs == {
        "events": [(root, META, 0)],
        "verifyHash": True,
        "getHashInfo": (True, 0, META),
        "storedHashes": True,
        "timestamps": 0,
        "metadata": META,
        "unknown": (False, (False, 0, "")),
    }


def test_store_hash_is_also_the_senders_anchor(registry, ours_as_guide, trainer, chain):
    root = os.urandom(32)
    tx = ours_as_guide.storeHash(root, META, sender=trainer)
    anchored = tx.decode_logs(registry.RootAnchored)
    assert [(e.root, e.submitter, e.prevRoot, e.recordDigest) for e in anchored] == [
        (root, trainer.address, bytes(32), hashlib.sha256(META.encode()).digest())
    ]
    assert registry.anchorOf(trainer, root) == (True, chain.provider.get_block(tx.block_number).timestamp, tx.block_number, False)


def test_store_hash_is_append_only_where_the_guides_overwrote(guide, registry, ours_as_guide, trainer, stranger, chain):
    root = os.urandom(32)
    for contract in (guide, ours_as_guide):
        contract.storeHash(root, META, sender=trainer)
    first_time = registry.timestamps(root)
    # the guide's contract lets anyone overwrite the metadata ...
    guide.storeHash(root, "overwritten", sender=stranger)
    assert guide.getHashInfo(root)[2] == "overwritten"
    # ... ours records the second account's own anchor and keeps the first metadata
    tx = ours_as_guide.storeHash(root, "overwritten", sender=stranger)
    assert tx.decode_logs(ours_as_guide.HashStored) == []
    assert [e.submitter for e in tx.decode_logs(registry.RootAnchored)] == [stranger.address]
    assert ours_as_guide.getHashInfo(root) == (True, first_time, META)
    assert registry.anchorOf(stranger, root)[0] and registry.anchorOf(trainer, root)[0]
    # a repeat by the same account reverts instead of overwriting
    with ape.reverts(registry.AlreadyAnchored, submitter=trainer.address, root=root):
        registry.storeHash(root, "again", sender=trainer)
    assert ours_as_guide.metadata(root) == META


def test_the_tracker_anchor_path_shows_in_the_guides_reads(registry, ours_as_guide, trainer, stranger, chain):
    root = os.urandom(32)
    tx = registry.anchor(root, bytes(32), os.urandom(32), sender=trainer)
    stamp = chain.provider.get_block(tx.block_number).timestamp
    assert registry.anchorOf(trainer, root)[0]
    assert ours_as_guide.verifyHash(root)
    assert ours_as_guide.getHashInfo(root) == (True, stamp, "")
    assert (ours_as_guide.storedHashes(root), ours_as_guide.timestamps(root)) == (True, stamp)
    # a later storeHash of the same root by another account records that account's own anchor
    # and leaves the first anchor's time (and its empty metadata) as they were
    later = ours_as_guide.storeHash(root, META, sender=stranger)
    assert later.decode_logs(ours_as_guide.HashStored) == []
    assert registry.anchorOf(stranger, root)[:3] == (True, chain.provider.get_block(later.block_number).timestamp,
                                                    later.block_number)
    assert ours_as_guide.getHashInfo(root) == (True, stamp, "")


def test_store_hash_of_the_zero_root_reverts(registry, trainer):
    with ape.reverts(registry.ZeroRoot):
        registry.storeHash(bytes(32), META, sender=trainer)
