"""The anchor checks of a verification: every anchor of every stage asked of its network under the
verifier's trust policy, the identity the pre tree commits, the order and completeness of the
anchors, the records on IPFS."""

from __future__ import annotations

from typing import Any, Mapping

from ..anchoring import Anchors
from ..errors import ProvenanceError
from ..record import Record
from ..record.receipts import AnchorState, Receipt, Status
from . import verdicts
from .results import VerificationReport
from .scope import unattributed


def _check_anchors(record: Record, anchors: Anchors, report: VerificationReport) -> None:
    report.identity = identity = _identity(record, report)
    verified: dict[str, dict[str, Mapping[str, Any]]] = {}  # stage -> network -> facts read from the chain
    unasked: set[str] = set()  # stages with a confirmed anchor whose network could not be asked
    for entry in record.receipts:
        stage, receipt = entry.stage, entry.receipt
        name = f"anchor {stage} {receipt.network}"
        try:
            root = record.stage(stage).root
        except ProvenanceError as e:
            report.add(name, False, str(e))
            continue
        if receipt.root != root:
            report.add(name, False, f"receipt is for 0x{receipt.root.hex()}, the tree root is 0x{root.hex()}")
            continue
        verdict = anchors.verify(receipt)
        facts = verdict.facts  # read from the chain by the backend, never copied from the receipt
        report.anchors.append({"stage": stage} | verdict.to_json() | {"location": dict(receipt.location)})
        if not verdict.ok:
            if verdict.status is Status.CANNOT_CHECK and receipt.state is AnchorState.CONFIRMED:
                unasked.add(stage)  # nothing found against it: the network could not be asked
                report.add(name, False, f"{verdict.detail}: run verify again when {receipt.network} can be reached",
                           unchecked=True)
                continue
            # a receipt that never claimed to be confirmed is a missing anchor; a confirmed one the network denies is wrong
            report.add(name, False, verdict.detail, incomplete=receipt.state is not AnchorState.CONFIRMED)
            continue
        if receipt.network == "ethereum" and not _check_ethereum_facts(record, stage, receipt, facts, identity, report):
            continue
        report.add(name, True, verdict.detail)
        verified.setdefault(stage, {})[receipt.network] = facts
    _check_ipfs_records(record, report)
    _check_order(record, verified, report)
    _check_trusted(identity, report)
    _check_complete(record, verified, identity, report, unasked)


def _identity(record: Record, report: VerificationReport) -> str | None:
    """The Ethereum identity the pre tree commits to (None, and a failed check, if it commits to
    none or to several)."""
    pre = record.stages[0] if record.stages and record.stages[0].name == "pre" else None
    names = pre.identities() if pre is not None else []
    if len(names) > 1:
        report.add("identity", False, f"the pre tree commits to {len(names)} Ethereum identities, expected one")
        return None
    networks = {entry.receipt.network for entry in record.receipts}
    if not names and networks and networks <= {"ipfs", "bitcoin"}:
        # an IPFS-only or Bitcoin-only run (the original system's default): all else is checked,
        # and the verdict names what no such anchor can prove
        scope = unattributed(networks)
        report.proven, report.not_proven = list(scope.proven), list(scope.not_proven)
        report.add("scope", True, scope.describe())
        return None
    if not names:
        # IPFS shows a record exists and Bitcoin when a root existed; neither says who anchored it
        report.add("identity", False, "the pre tree commits to no Ethereum identity (no identity.ethereum leaf): who was "
                   "to anchor the run is unknown (a run verifies only with Ethereum among its networks)")
        return None
    report.add("identity", True, f"the pre tree commits to Ethereum account {names[0]}")
    return names[0]


def _check_ethereum_facts(record: Record, stage: str, receipt: Receipt, facts: Mapping[str, Any], identity: str | None,
                          report: VerificationReport) -> bool:
    """Who anchored (and what digest), as the chain says: the run's identity, this record."""
    name = f"anchor {stage} ethereum"
    submitter = facts.get("submitter")
    if not isinstance(submitter, str):
        return report.add(name, False, "cannot tell who anchored it: the chain's facts name no submitter")
    report.submitters[stage] = submitter
    if identity is None or submitter.lower() != identity.lower():
        return report.add(name, False, f"anchored by {submitter}, not by the run's identity {identity} (committed in the pre tree)")
    if "batch_root" in receipt.location:
        # the anchored digest is the batch manifest's; the member leaf's name (proven on-chain) names the run
        member = receipt.location.get("batch_leaf")
        expected = f"{record.run_id}/{stage}"
        if not (isinstance(member, list) and len(member) > 1 and member[1] == expected):
            return report.add(name, False, f"batch member is {member[1] if isinstance(member, list) and len(member) > 1 else member!r}, "
                              f"expected {expected!r} (the run id is covered by the member's name)")
        return True
    digest = facts.get("record_digest")
    try:
        expected = "0x" + record.snapshot_digest(stage).hex()
        prev = record.stage(stage).prev
        expected_prev = "0x" + (record.stage(prev).root if prev else bytes(32)).hex()
    except ProvenanceError as e:
        return report.add(f"record digest {stage} ethereum", False, f"cannot compute the stage's snapshot: {e}")
    if not isinstance(digest, str) or digest.lower() != expected:
        return report.add(f"record digest {stage} ethereum", False,
                          f"anchored recordDigest {digest} is not this record's snapshot {expected}: the record was edited "
                          "(run id, created_at, config, ...) or is another record")
    report.add(f"record digest {stage} ethereum", True, "anchored recordDigest equals the record's snapshot")
    anchored_prev = facts.get("prev_root")
    if anchored_prev is not None and str(anchored_prev).lower() != expected_prev:
        return report.add(f"prev root {stage} ethereum", False, f"anchored prevRoot {anchored_prev}, expected {expected_prev}")
    return True


def _check_order(record: Record, verified: Mapping[str, Mapping[str, Mapping[str, Any]]], report: VerificationReport) -> None:
    """pre <= each epoch <= post, by the blocks the chain puts the Ethereum anchors in."""
    blocks = [(s.name, verified.get(s.name, {}).get("ethereum", {}).get("block_number")) for s in record.stages]
    blocks = [(name, block) for name, block in blocks if isinstance(block, int)]
    if len(blocks) < 2:
        return
    late = [(a, b) for a, b in zip(blocks, blocks[1:]) if b[1] < a[1]]
    text = " <= ".join(f"{name} (block {block})" for name, block in blocks)
    report.add("anchors in chain order", not late, text if not late else
               "; ".join(f"{b[0]} anchored in block {b[1]}, before {a[0]} in block {a[1]}" for a, b in late))


def _check_trusted(identity: str | None, report: VerificationReport) -> None:
    trusted = report.trusted_submitters
    if (known := verdicts.well_known(identity)) is not None:
        report.warnings.append(known)
    if not trusted:
        return
    ok = identity is not None and identity.lower() in {t.lower() for t in trusted}
    report.add("trusted submitter", ok, f"the run's identity {identity} is trusted" if ok
               else f"the run's identity {identity} is not one of the trusted submitters ({', '.join(trusted)})")


def _check_complete(record: Record, verified: Mapping[str, Mapping[str, Any]], identity: str | None,
                    report: VerificationReport, unasked: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """A post tree, and a confirmed, verified anchor for every tree (on Ethereum when the run has
    an Ethereum identity): anything less is INCOMPLETE, never a pass."""
    last = record.last_stage
    names = [s.name for s in record.stages]
    if last is not None and last.name != "post":
        report.add("complete", False, f"no post-training tree: the run stops at {last.name!r} (crashed or cut short?)", incomplete=True)
    needed = "ethereum" if identity is not None else None

    def anchored(name: str) -> bool:  # the run's identity lives on Ethereum: another network's anchor is not enough
        return needed in verified.get(name, {}) if needed else bool(verified.get(name))

    # a stage whose confirmed anchor could not be asked about is not missing: its check says CANNOT CHECK
    unanchored = [s for s in record.stages[:-1] if not anchored(s.name) and s.name not in unasked]
    for stage in unanchored:
        report.add(f"anchored {stage.name}", False, f"no confirmed and verified {needed + ' ' if needed else ''}anchor for tree "
                   f"{stage.name!r} (root 0x{stage.root.hex()})", incomplete=True)
    if last is not None and last.name not in unasked:
        done = [n for n in names if anchored(n)]
        report.add(
            "final root anchored", anchored(last.name),
            f"tree {last.name!r} is anchored and commits to every earlier tree (anchored: {', '.join(done)})"
            if anchored(last.name) else f"no verified anchor for the final tree {last.name!r} (root 0x{last.root.hex()})",
            incomplete=True,
        )


def _check_ipfs_records(record: Record, report: VerificationReport) -> None:
    """The record stored on IPFS for a stage is this record's snapshot for that stage: its CID is
    the snapshot's sha2-256 (the same digest the contract holds as `recordDigest`)."""
    from ..anchors.ipfs.backend import cid_from_sha256

    for stage in record.stages:
        ipfs = record.receipts_for(stage.name).get("ipfs")
        if ipfs is None or "cid" not in ipfs.location:
            continue
        expected = cid_from_sha256(record.snapshot_digest(stage.name))
        report.add(f"ipfs record of {stage.name} is this record's snapshot", expected == ipfs.location["cid"],
                   f"CID {ipfs.location['cid']} is the snapshot's" if expected == ipfs.location["cid"]
                   else f"the snapshot gives CID {expected}, the IPFS receipt names {ipfs.location['cid']}")
