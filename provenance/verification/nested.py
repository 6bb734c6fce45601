"""Nested proofs (`provenance-nested-proof/v1`): one sample of a sharded dataset, through its
shard, up to the run's anchored root.

A nested proof is the sample's leaf and its proof to the shard root (level 1), plus an ordinary
`provenance-proof/v1` bundle whose first step proves the shard's `data.shard` leaf in its tree
and whose later steps chain that tree to the run's final root (level 2). Checked offline (both
levels, and the shard leaf's digest equal to the root the sample proves into) and on-chain: the
contract's `verifyNestedInclusion` (both leaves hashed on-chain) against the submitter's anchor
of the tree holding the shard leaf, plus the bundle's own on-chain checks up to the final root.

Making one re-hashes the named shard from the dataset the record describes and refuses if its
root is not the anchored shard root: a proof is never built from data that changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..merkle.kinds import DATA_SAMPLE
from ..errors import FormatError, VerificationError
from ..merkle import FORMAT as MERKLE_FORMAT
from ..merkle import Leaf, MerkleTree, parse_bytes32, verify
from ..merkle.reference import verify_nested
from .proofs import MAX_PROOF_BYTES, ProofBundle, check_offline, check_on_network, expect_format, prove
from ..files import read_json, untrusted_shape
from ..record import Record
from ..digests.shards import SHARD_KIND, ShardRef, from_descriptor, shard_tree

FORMAT = "provenance-nested-proof/v1"


@dataclass(frozen=True)
class NestedProof:
    """`sample` (index `index` of shard `shard`) proven by `sample_proof` to the shard root, and
    the shard leaf proven up to the run's final root by `run`."""

    shard: str
    index: int
    sample: Leaf
    sample_proof: tuple[bytes, ...]
    run: ProofBundle

    @property
    def shard_leaf(self) -> Leaf:
        return self.run.steps[0].leaf

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "merkle": MERKLE_FORMAT, "shard": self.shard, "index": self.index,
                "sample": {"leaf": self.sample.to_json(), "proof": ["0x" + p.hex() for p in self.sample_proof]},
                "run": self.run.to_json()}

    @classmethod
    @untrusted_shape('the proof file')
    def from_json(cls, data: Any) -> NestedProof:
        expect_format(data, FORMAT, "nested proof file")
        sample = data.get("sample")
        if not isinstance(sample, dict) or not isinstance(sample.get("proof"), list):
            raise FormatError("nested proof file: expected sample {leaf, proof}")
        index = data.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise FormatError(f"nested proof file: expected a sample index >= 0, found {index!r}")
        return cls(str(data.get("shard")), index, Leaf.from_json(sample.get("leaf")),
                   tuple(parse_bytes32(p, what=f"sample proof node {i}") for i, p in enumerate(sample["proof"])),
                   ProofBundle.from_json(data.get("run")))


def load_proof_file(path: Path) -> ProofBundle | NestedProof:
    """A proof file of either format."""
    data = read_json(path, "proof file", max_bytes=MAX_PROOF_BYTES)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return NestedProof.from_json(data)
    return ProofBundle.from_json(data)


def parse_sample_ref(ref: str) -> tuple[str, int]:
    """`<shard id>/<index>` -> (shard id, index); the shard id may itself contain `/`."""
    shard, sep, index = ref.rpartition("/")
    if not sep or not shard or not index.isdigit():
        raise FormatError(f"sample: expected <shard id>/<index in shard>, found {ref!r}")
    return shard, int(index)


def shard_ref(record: Record, shard: str, refs: list[ShardRef] | None = None) -> ShardRef:
    """The shard `shard` of the dataset the record describes (or of `refs`)."""
    if refs is None:
        refs = from_descriptor(dict(record.artifacts.get("dataset", {})))
    match = [r for r in refs if r.id == shard]
    if not match:
        raise FormatError(f"run {record.run_id}: expected a shard {shard!r} in the dataset, found none")
    return match[0]


def prove_sample(record: Record, shard: str, index: int, *, refs: list[ShardRef] | None = None,
                 stage: str | None = None) -> NestedProof:
    """The nested proof of sample `index` of shard `shard` (re-hashed from its source)."""
    run = prove(record, SHARD_KIND, shard, stage)
    shard_leaf = run.steps[0].leaf
    tree = shard_tree(shard_ref(record, shard, refs))
    if tree.root != shard_leaf.digest or len(tree) != shard_leaf.size:
        raise VerificationError(f"shard {shard}: expected root 0x{shard_leaf.digest.hex()} of {shard_leaf.size} samples "
                                f"as anchored, found 0x{tree.root.hex()} of {len(tree)} (the shard changed)")
    return sample_proof(tree, index, shard, run)


def sample_proof(tree: MerkleTree, index: int, shard: str, run: ProofBundle) -> NestedProof:
    if not 0 <= index < len(tree):
        raise FormatError(f"shard {shard}: expected a sample index in 0..{len(tree) - 1}, found {index}")
    return NestedProof(shard, index, tree.values[index], tuple(tree.proof(index)), run)


def check_nested_offline(proof: NestedProof) -> list[tuple[str, bool, str]]:
    """Level 1 (sample -> shard root), the shard leaf's kind and name, then level 2 (the bundle)."""
    leaf = proof.shard_leaf
    ok_kind = leaf.kind == SHARD_KIND and leaf.name == proof.shard
    ok_sample = verify(leaf.digest, proof.sample, proof.sample_proof)
    step = proof.run.steps[0]
    both = verify_nested(step.root, leaf, step.proof, proof.sample, proof.sample_proof)
    results = [
        (f"shard {proof.shard}: leaf", ok_kind, f"first step proves {leaf.label}" + ("" if ok_kind else f", expected {SHARD_KIND}:{proof.shard}")),
        (f"shard {proof.shard}: {proof.sample.label}", ok_sample,
         f"proof of {len(proof.sample_proof)} hashes {'holds' if ok_sample else 'does NOT hold'} for shard root 0x{leaf.digest.hex()}"),
        (f"{step.stage}: nested", both, f"sample -> shard -> root 0x{step.root.hex()} {'holds' if both else 'does NOT hold'}"),
    ]
    return results + check_offline(proof.run)


def check_nested_onchain(proof: NestedProof, check_nested: Callable[..., bool], is_anchored: Callable[[bytes], bool],
                         submitter: str = "the submitter") -> list[tuple[str, bool, str]]:
    """`verifyNestedInclusion` against the tree that holds the shard leaf, when `submitter` has
    a live anchor of its root (the bundle's own checks then tie that tree to the final root)."""
    step = proof.run.steps[0]
    if not is_anchored(step.root):
        return [(f"on-chain {step.stage} nested", True,
                 f"tree {step.stage} is not anchored on its own; the shard leaf is checked through the chain to the final root")]
    ok = check_nested(step.root, step.proof, step.leaf, proof.sample_proof, proof.sample)
    return [(f"on-chain {step.stage} nested", ok, f"verifyNestedInclusion({submitter}, {proof.sample.label} in {step.leaf.label}) = {ok}")]


def check_nested_on_network(proof: NestedProof, network: str = "local") -> list[tuple[str, bool, str]]:
    """Both on-chain parts: the bundle's checks (shard leaf up to the final root) and the nested call."""
    from ..anchors.ethereum import backend as ethereum
    from .proofs import final_submitter

    results = check_on_network(proof.run, network)
    receipts = [r for _, r in proof.run.anchors if r.network == "ethereum" and "contract" in r.location]
    submitter = proof.run.submitter or final_submitter(proof.run.anchors, proof.run.steps[-1].stage)
    if not receipts or submitter is None:
        return results  # check_on_network has already failed for want of an anchor or submitter
    try:
        anchor = ethereum.connect(network, contract_address=receipts[-1].location["contract"], allow_start=False, allow_deploy=False)
        return results + check_nested_onchain(
            proof, lambda *args: nested_call(anchor, submitter, *args),
            lambda root: anchor.is_anchored(root, submitter=submitter), submitter)
    except ethereum.ForeignContractError as e:  # answered, and wrong: a failed check, not "retry later"
        return results + [("on-chain nested", False, str(e))]


def nested_call(anchor: Any, submitter: str, run_root: bytes, shard_proof: tuple[bytes, ...], shard_leaf: Leaf,
                sample_proof: tuple[bytes, ...], sample: Leaf) -> bool:
    """`MLProvenance.verifyNestedInclusion` as an eth_call on an `EthereumAnchor`."""
    return bool(anchor.verify_nested_inclusion(run_root, shard_proof, shard_leaf, sample_proof, sample, submitter=submitter))


def is_sharded(record: Record) -> bool:
    """Whether the run committed to its data through `data.shard` leaves."""
    return any(leaf.kind == SHARD_KIND for stage in record.stages for leaf in stage.leaves)


def maybe_prove(record: Record, kind: str, name: str, stage: str | None) -> NestedProof | None:
    """The nested proof for `data.sample:<shard>/<index>` in a sharded run, else None."""
    if kind != DATA_SAMPLE or not is_sharded(record):
        return None
    shard, index = parse_sample_ref(name)
    return prove_sample(record, shard, index, stage=stage)
