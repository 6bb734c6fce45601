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
from ..record import CHAIN_PREV, IDENTITY_ETHEREUM, RUN_ID, Record

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
    # The run's own commitments: the pre tree's identity leaf chained up to the same final root, and
    # the pre tree's run id leaf. They tie `submitter` and `run_id` to a pre tree (not a one-tree "run").
    identity: tuple[Step, ...] = ()
    run_leaf: Step | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "format": FORMAT,
            "merkle": MERKLE_FORMAT,
            "run_id": self.run_id,
            "steps": [s.to_json() for s in self.steps],
            "anchors": [{"stage": stage} | r.to_json() for stage, r in self.anchors],
        }
        if self.identity:
            data["identity"] = [s.to_json() for s in self.identity]
        if self.run_leaf is not None:
            data["run_leaf"] = self.run_leaf.to_json()
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
        identity = data.get("identity", [])
        if not isinstance(identity, list):
            raise FormatError("proof file: expected identity to be a list of steps")
        run_leaf = Step.from_json(data["run_leaf"]) if data.get("run_leaf") is not None else None
        return cls(str(data.get("run_id")), tuple(Step.from_json(s) for s in steps), tuple(anchors), submitter,
                   tuple(Step.from_json(s) for s in identity), run_leaf)

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
    identity, run_leaf = _run_commitments(record)
    on_path = {s.stage for s in steps} | {s.stage for s in identity}
    anchors = tuple((r.stage, r.receipt) for r in record.receipts if r.stage in on_path)
    return ProofBundle(record.run_id, tuple(steps), anchors, final_submitter(anchors, steps[-1].stage), identity, run_leaf)


def _run_commitments(record: Record) -> tuple[tuple[Step, ...], Step | None]:
    """The pre tree's identity leaf chained up to the final tree, and its run id leaf (empty and
    None for a run made before they existed)."""
    pre = record.stages[0] if record.stages and record.stages[0].name == "pre" else None
    names = pre.identities() if pre is not None else []
    if pre is None or len(names) != 1:
        return (), None
    tree = pre.tree()
    leaf = tree.find(IDENTITY_ETHEREUM, names[0])
    steps = [Step("pre", tree.root, leaf, tuple(tree.proof(leaf)))]
    for prev, current in zip(record.stages, record.stages[1:]):
        link = current.tree().find(CHAIN_PREV, prev.name)
        steps.append(Step(current.name, current.root, link, tuple(current.tree().proof(link))))
    ids = [x for x in pre.leaves if x.kind == RUN_ID and x.name == record.run_id]
    run_leaf = Step("pre", tree.root, ids[0], tuple(tree.proof(ids[0]))) if ids else None
    return tuple(steps), run_leaf


def check_run(bundle: ProofBundle, trusted: tuple[str, ...] | list[str] = ()) -> list[tuple[str, bool, str]]:
    """Offline: the file's identity path and run id leaf hold, reach the same final root as the
    leaf's path from a `pre` tree that commits the file's submitter and run id; and, with a trust
    list, the submitter is on it. (On-chain, `check_onchain` requires the pre root anchored too.)"""
    results = []
    if not bundle.identity or bundle.identity[0].stage != "pre" or bundle.identity[0].leaf.kind != IDENTITY_ETHEREUM:
        return [("run identity", False, "the proof file carries no path from a pre tree that commits an Ethereum identity: "
                 "nothing ties the leaf to a run (a one-tree \"run\" proves nothing)")]
    for name, ok, detail in check_offline(ProofBundle(bundle.run_id, bundle.identity, ())):
        results.append((f"identity path {name}", ok, detail))
    ends = bundle.identity[-1].root == bundle.steps[-1].root
    results.append(("identity path reaches the final root", ends, "the pre tree's path ends at the leaf's final root" if ends
                    else f"the pre tree's path ends at 0x{bundle.identity[-1].root.hex()}, the leaf's at 0x{bundle.steps[-1].root.hex()}"))
    identity = bundle.identity[0].leaf.name
    same = bundle.submitter is not None and bundle.submitter.lower() == identity.lower()
    results.append(("submitter is the run's identity", same, f"the pre tree commits to {identity}" + ("" if same else
                    f", the file names submitter {bundle.submitter}")))
    leaf = bundle.run_leaf
    bound = (leaf is not None and leaf.leaf.kind == RUN_ID and leaf.leaf.name == bundle.run_id and leaf.root == bundle.identity[0].root
             and verify(leaf.root, leaf.leaf, leaf.proof))
    results.append(("run id committed by the pre tree", bound, f"run.id leaf {bundle.run_id!r} in the pre tree" if bound
                    else f"the pre tree does not commit to run id {bundle.run_id!r}"))
    if trusted:
        ok = identity.lower() in {t.lower() for t in trusted}
        results.append(("trusted submitter", ok, f"{identity} is trusted" if ok
                        else f"{identity} is not one of the trusted submitters ({', '.join(trusted)})"))
    return results


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
    if bundle.identity:  # the pre tree that commits the identity must itself be anchored by it
        pre = bundle.identity[0]
        ok = is_anchored(pre.root) and check_leaf(pre.root, pre.proof, pre.leaf)
        results.append(("on-chain pre", ok, f"verifyLeafInclusion({submitter}, {pre.leaf.label}) in the anchored pre root = {ok}"))
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
