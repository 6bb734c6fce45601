"""Proof files (`provenance-proof/v1`): one leaf's membership in its tree, plus the chain of
`chain.prev` links up to the run's final tree, so that an anchor of the final root alone proves
the leaf was committed to by the run. Checked offline and on-chain (`verifyLeafInclusion`),
against the anchor of the account named as the file's `submitter` (the sender of the final
root's Ethereum anchor): someone else's anchor of the same root proves nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..record.receipts import Receipt
from ..errors import FormatError
from ..files import read_json, untrusted_shape
from ..merkle import FORMAT as MERKLE_FORMAT
from ..merkle import Leaf, parse_bytes32, verify
from ..record import CHAIN_PREV, Record

MAX_PROOF_BYTES = 64 << 20  # a proof is a few KB; a multiproof of a large tree, some MB

FORMAT = "provenance-proof/v1"


@dataclass(frozen=True)
class Step:
    """`leaf` is in the tree of `stage`, whose root is `root`, by `proof`."""

    stage: str
    root: bytes
    leaf: Leaf
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "root": "0x" + self.root.hex(), "leaf": self.leaf.to_json(), "proof": ["0x" + p.hex() for p in self.proof]}

    @classmethod
    def from_json(cls, data: Any) -> Step:
        if not isinstance(data, dict) or not isinstance(data.get("proof"), list):
            raise FormatError("proof step: expected {stage, root, leaf, proof}")
        return cls(
            str(data.get("stage")),
            parse_bytes32(data.get("root"), what="proof root"),
            Leaf.from_json(data.get("leaf")),
            tuple(parse_bytes32(p, what=f"proof node {i}") for i, p in enumerate(data["proof"])),
        )


@dataclass(frozen=True)
class ProofBundle:
    run_id: str
    steps: tuple[Step, ...]  # the leaf's own step first, then one chain link per later tree
    anchors: tuple[tuple[str, Receipt], ...]  # (stage, receipt) for the trees on the path
    submitter: str | None = None  # who anchored the final root on Ethereum (checksummed)

    def to_json(self) -> dict[str, Any]:
        data = {
            "format": FORMAT,
            "merkle": MERKLE_FORMAT,
            "run_id": self.run_id,
            "steps": [s.to_json() for s in self.steps],
            "anchors": [{"stage": stage} | r.to_json() for stage, r in self.anchors],
        }
        if self.submitter is not None:
            data["submitter"] = self.submitter
        return data

    @classmethod
    @untrusted_shape('the proof file')
    def from_json(cls, data: Any) -> ProofBundle:
        expect_format(data, FORMAT, "proof file")
        steps = data.get("steps")
        if not isinstance(steps, list) or not steps:
            raise FormatError("proof file: expected a non-empty list of steps")
        anchors = []
        for entry in data.get("anchors", []):
            if not isinstance(entry, dict):
                raise FormatError("proof file: expected anchors to be objects")
            anchors.append((str(entry.get("stage")), Receipt.from_json({k: v for k, v in entry.items() if k != "stage"})))
        submitter = data.get("submitter")
        if submitter is not None and not _is_address(submitter):
            raise FormatError(f"proof file: expected submitter to be a 0x-prefixed 20-byte address, found {str(submitter)[:50]!r}")
        return cls(str(data.get("run_id")), tuple(Step.from_json(s) for s in steps), tuple(anchors), submitter)

    @classmethod
    def load(cls, path: Path) -> ProofBundle:
        return cls.from_json(read_json(path, "proof file", max_bytes=MAX_PROOF_BYTES))


def expect_format(data: Any, expected: str, what: str) -> None:
    """Refuse a JSON document whose `format` is not `expected`, naming what was found."""
    if not isinstance(data, dict) or data.get("format") != expected:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise FormatError(f"{what}: expected format {expected!r}, found {found!r}")


def prove(record: Record, kind: str, name: str, stage: str | None = None) -> ProofBundle:
    """The proof of leaf `kind:name` (in `stage`, default the first tree that has it) and the
    chain links from that tree to the last one."""
    stages = record.stages
    if stage is None:
        holder = next((s for s in stages if any(x.kind == kind and x.name == name for x in s.leaves)), None)
        if holder is None:
            raise FormatError(f"run {record.run_id}: no leaf {kind}:{name} in any tree")
        stage = holder.name
    start = [s.name for s in stages].index(record.stage(stage).name)
    first_tree = stages[start].tree()
    leaf = first_tree.find(kind, name)
    steps = [Step(stage, first_tree.root, leaf, tuple(first_tree.proof(leaf)))]
    for prev, current in zip(stages[start:], stages[start + 1 :]):
        tree = current.tree()
        link = tree.find(CHAIN_PREV, prev.name)
        steps.append(Step(current.name, tree.root, link, tuple(tree.proof(link))))
    on_path = {s.stage for s in steps}
    anchors = tuple((r.stage, r.receipt) for r in record.receipts if r.stage in on_path)
    return ProofBundle(record.run_id, tuple(steps), anchors, final_submitter(anchors, steps[-1].stage))


def final_submitter(anchors: tuple[tuple[str, Receipt], ...], final_stage: str) -> str | None:
    """The submitter named by the final stage's Ethereum receipt, if it has one."""
    for stage, receipt in anchors:
        if stage == final_stage and receipt.network == "ethereum" and _is_address(receipt.location.get("submitter")):
            return str(receipt.location["submitter"])
    return None


def check_offline(bundle: ProofBundle) -> list[tuple[str, bool, str]]:
    """Each step's proof against its root, and each chain link against the previous root."""
    results = []
    for i, step in enumerate(bundle.steps):
        ok = verify(step.root, step.leaf, step.proof)
        results.append((f"{step.stage}: {step.leaf.label}", ok, f"proof of {len(step.proof)} hashes {'holds' if ok else 'does NOT hold'} for root 0x{step.root.hex()}"))
        if i:
            prev = bundle.steps[i - 1]
            linked = step.leaf.kind == CHAIN_PREV and step.leaf.name == prev.stage and step.leaf.digest == prev.root
            results.append((f"{step.stage}: commits to {prev.stage}", linked, "chain.prev leaf holds the previous root" if linked else "chain.prev leaf does not hold the previous root"))
    return results


def check_onchain(
    bundle: ProofBundle,
    check_leaf: Callable[[bytes, tuple[bytes, ...], Leaf], bool],
    is_anchored: Callable[[bytes], bool],
    submitter: str = "the submitter",
    batch: tuple[bytes, tuple[bytes, ...], Leaf] | None = None,
) -> list[tuple[str, bool, str]]:
    """Each step checked by the contract (leaf hashed on-chain) where `submitter` has a live
    anchor of its root; the final root must be so anchored (directly, or as the `batch.member`
    leaf `batch` = (batch root, proof, leaf) of a batch root so anchored), or nothing ties the
    leaf to the chain. `check_leaf` and `is_anchored` are bound to `submitter`."""
    results = []
    for step in bundle.steps:
        if is_anchored(step.root):
            ok = check_leaf(step.root, step.proof, step.leaf)
            results.append((f"on-chain {step.stage}", ok, f"verifyLeafInclusion({submitter}, {step.leaf.label}) = {ok}"))
    last = bundle.steps[-1]
    if is_anchored(last.root):
        return results
    if batch is not None and batch[2].digest == last.root and is_anchored(batch[0]):
        ok = check_leaf(batch[0], batch[1], batch[2])
        results.append((f"on-chain {last.stage}", ok, f"verifyLeafInclusion({submitter}, {batch[2].label}) in batch 0x{batch[0].hex()} = {ok}"))
        return results
    results.append((f"on-chain {last.stage}", False, f"final root 0x{last.root.hex()} has no live anchor by {submitter} in this contract"))
    return results


def check_on_network(bundle: ProofBundle, network: str = "local") -> list[tuple[str, bool, str]]:
    """`check_onchain` against the MLProvenance contract the bundle's Ethereum anchors name, on
    `network` ('local' or an RPC URL), which must be the chain those anchors are on."""
    from ..anchors.ethereum import backend as ethereum
    from ..errors import AnchorError

    receipts = [(s, r) for s, r in bundle.anchors if r.network == "ethereum" and "contract" in r.location]
    if not receipts:
        return [("on-chain", False, "the proof file carries no Ethereum anchor to check against")]
    final_stage = bundle.steps[-1].stage
    stage, receipt = next(((s, r) for s, r in receipts if s == final_stage), receipts[-1])
    submitter = bundle.submitter or final_submitter(bundle.anchors, final_stage)
    if submitter is None:
        return [("on-chain", False, "the proof file names no submitter of the final root's anchor to check against")]
    try:
        return _check_against(bundle, network, stage, final_stage, receipt, submitter)
    except ethereum.ForeignContractError as e:  # answered, and wrong: a failed check (exit 1), not "retry later"
        return [("on-chain", False, str(e))]


def _check_against(bundle: ProofBundle, network: str, stage: str, final_stage: str, receipt: Receipt,
                   submitter: str) -> list[tuple[str, bool, str]]:
    from ..anchors.ethereum import backend as ethereum
    from ..errors import AnchorError

    anchor = ethereum.connect(network, contract_address=receipt.location["contract"], allow_start=False, allow_deploy=False)
    expected_chain = receipt.location.get("chain_id")
    if expected_chain != anchor.chain_id:
        raise AnchorError(f"the proof's anchors are on chain {expected_chain}, but {network} is chain {anchor.chain_id}")
    batch = None
    if stage == final_stage and "batch_root" in receipt.location:
        loc = receipt.location
        nodes = loc.get("batch_proof")
        if not isinstance(nodes, list):
            raise FormatError("proof file: expected the batch proof to be a list of hashes")
        batch = (parse_bytes32(loc["batch_root"], what="batch root"),
                 tuple(parse_bytes32(p, what="batch proof node") for p in nodes), Leaf.from_json(loc.get("batch_leaf")))
    return check_onchain(
        bundle,
        lambda root, proof, leaf: anchor.verify_leaf_inclusion(root, proof, leaf, submitter=submitter),
        lambda root: anchor.is_anchored(root, submitter=submitter),
        submitter,
        batch,
    )


def _is_address(value: Any) -> bool:
    from web3 import Web3

    return isinstance(value, str) and Web3.is_address(value)
