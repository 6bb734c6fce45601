"""A run as an in-toto Statement v1 whose predicate is SLSA Provenance v1: training as a "build".

The subject is the final model file; `buildDefinition` says how it was made (our build type, the
training config as external parameters, the environment as internal ones, and the dataset splits,
the code and the initial weights as resolved dependencies); `runDetails` says by what and when,
with every confirmed anchor and the final root as byproducts. Field by field in
docs/reference/exports.md.
"""

from __future__ import annotations

from typing import Any

from .facts import AnchorFact, FileFact, RunFacts

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
# Our build type: what a training run's parameters and dependencies mean (documented in
# docs/reference/exports.md#the-build-type). A URN: it names the template without claiming a web page.
BUILD_TYPE = "urn:ml-provenance:slsa-build-type:training:v1"
BUILDER_ID = "urn:ml-provenance:builder:provenance-tracker"  # its version: the run's, from the record's package list
# Digest-set keys of ours, next to in-toto's registered `sha256` and `gitCommit`.
BLAKE3 = "blake3"  # blake3-256 of a file's raw bytes: the `model.file` leaf's digest
MERKLE_ROOT = "provenanceMerkleV1"  # a provenance-merkle/v1 root (keccak256, OpenZeppelin StandardMerkleTree)
MEDIA_SAFETENSORS = "application/vnd.safetensors"


def statement(facts: RunFacts) -> dict[str, Any]:
    """The in-toto Statement (a JSON value) for `facts`."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [_file(facts.model)],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"config": dict(facts.config)},
                "internalParameters": {
                    "environment": dict(facts.environment),
                    "recordFormat": facts.record_format,
                    "merkleFormat": facts.merkle_format,
                    "canonicalization": facts.canonicalization,
                },
                "resolvedDependencies": _dependencies(facts),
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"ml-provenance": facts.tracker_version}},
                "metadata": {"invocationId": facts.run_id, "startedOn": facts.started_on, "finishedOn": facts.finished_on},
                "byproducts": [_root(facts)] + [anchor_descriptor(a) for a in facts.anchors],
            },
        },
    }


def _file(fact: FileFact) -> dict[str, Any]:
    return {"name": fact.name, "digest": {"sha256": fact.sha256, BLAKE3: fact.blake3},
            "mediaType": MEDIA_SAFETENSORS if fact.name.endswith(".safetensors") else "application/octet-stream",
            "annotations": {"stage": fact.stage, "size": fact.size}}


def _dependencies(facts: RunFacts) -> list[dict[str, Any]]:
    deps: list[dict[str, Any]] = []
    source = str(facts.dataset.get("source", "dataset"))
    for split in facts.splits:
        deps.append({"name": f"dataset/{source}/{split.split}", "digest": {MERKLE_ROOT: split.root},
                     "annotations": {"descriptor": dict(facts.dataset), "split": split.split, "leafKind": split.kind,
                                     "count": split.count}})
    deps.append(code_descriptor(facts.code))
    if facts.initial_model is not None:
        deps.append(_file(facts.initial_model) | {"name": f"initial-weights/{facts.initial_model.name}"})
    return deps


def code_descriptor(code: Any) -> dict[str, Any]:
    """The training code: its git commit (and, where the record has the remote, a `git+` URI).
    The record keeps no remote URL today, so the descriptor names the commit, never a made-up URL."""
    git = code.get("git") if isinstance(code, dict) else None
    if not isinstance(git, dict) or not git.get("commit"):
        return {"name": "code", "annotations": {"git": "none recorded"}}
    commit = str(git["commit"])
    descriptor: dict[str, Any] = {"name": f"code@{commit}", "digest": {"gitCommit": commit}}
    remote = git.get("remote") or git.get("url")
    if isinstance(remote, str) and remote:
        descriptor["uri"] = f"git+{remote}@{commit}"
    descriptor["annotations"] = {k: v for k, v in sorted(git.items()) if k not in ("commit",)}
    return descriptor


def _root(facts: RunFacts) -> dict[str, Any]:
    return {"name": "root/post", "digest": {MERKLE_ROOT: facts.final_root},
            "annotations": {"chain": [{"stage": stage, "root": root} for stage, root in facts.roots]}}


def anchor_descriptor(anchor: AnchorFact) -> dict[str, Any]:
    """A byproduct naming one anchor: the anchored root as its digest, where it is as annotations."""
    where = anchor.where
    descriptor: dict[str, Any] = {"name": f"anchor/{anchor.key}", "digest": {MERKLE_ROOT: anchor.root}}
    uri = anchor_uri(anchor.network, where)
    if uri:
        descriptor["uri"] = uri
    descriptor["annotations"] = {"stage": anchor.stage, "network": anchor.network} | where
    return descriptor


def anchor_uri(network: str, where: dict[str, Any]) -> str | None:
    """A URI naming the anchor: `ipfs://CID`, a public explorer's page where the network has one,
    else our URN of the transaction (a local chain or regtest has no page to link)."""
    from ..verification.links import explorer_link

    if network == "ipfs" and where.get("cid"):
        return f"ipfs://{where['cid']}"
    link = explorer_link(network, where)
    if link:
        return link
    if network == "ethereum" and where.get("tx_hash"):
        return f"urn:ml-provenance:anchor:ethereum:{where.get('chain_id')}:{where['tx_hash']}"
    if network == "bitcoin" and where.get("txid"):
        return f"urn:ml-provenance:anchor:bitcoin:{where.get('chain')}:{where['txid']}"
    return None
