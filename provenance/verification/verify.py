"""Verification of a run from its folder alone, as a fresh process on any machine would do it.

1. every stage's root is recomputed from its recorded leaves;
2. the chain holds: each stage's `chain.prev` leaf is the previous stage's root;
3. the artifacts are re-hashed (dataset samples, saved models, config file) and compared leaf by
   leaf with the record, naming each leaf that changed and the tree it belongs to;
4. every anchor receipt is checked against its network; from what the chain says (`Verdict.facts`,
   never the receipt): every Ethereum anchor was made by the identity the `pre` tree commits to
   (and, if the verifier names trusted submitters, that identity is one of them), the anchors are
   in chain order (pre <= each epoch <= post by block), and each anchored `recordDigest` equals
   the stage's snapshot of the record;
5. the run is complete: a `post` tree, and a confirmed, verified anchor for every tree; otherwise
   the verdict is INCOMPLETE (exit 1), saying what is missing;
6. an OpenSSF model-signing bundle next to the model (`model.sig`), when present, vouches for the
   `post` tree's `model.file` leaves and nothing else (`model_signature`);
7. for a DP run, the epsilon history: never decreasing, within the committed target, each value
   recomputed from its mechanism's parameters (`provenance.digests.privacy`).
Anything that cannot be checked is a failed check that says why, never a pass. The threat model
these checks answer is the README's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..digests import datasets as dataset_files
from ..digests import privacy, shard_tracking
from ..anchoring import Anchors
from ..config import ProvenanceConfig, load_settings
from ..errors import FormatError, ProvenanceError
from ..record.receipts import AnchorState, Receipt, Status
from ..merkle import Leaf, MerkleTree
from ..record import CHAIN_PREV, Record
from ..record.kinds import KINDS, RunFiles, accounting_json, has_privacy
from . import verdicts
from .scope import unattributed
from ..files import RECORD_FILE



@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    incomplete: bool = False  # failing it means something is missing (INCOMPLETE), not that something is wrong
    unchecked: bool = False  # failing it means it could not be checked (a network down, data not given): CANNOT CHECK


@dataclass(frozen=True)
class LeafChange:
    """One leaf whose artifact no longer hashes to the recorded value."""

    stage: str
    kind: str
    name: str
    change: str  # "changed", "missing" (recorded, not found now) or "unexpected" (found, not recorded)
    recorded: str | None
    found: str | None

    def describe(self) -> str:
        return f"{self.kind}:{self.name} in tree {self.stage!r} {self.change}"


@dataclass
class VerificationReport:
    run_id: str
    checks: list[Check] = field(default_factory=list)
    changes: list[LeafChange] = field(default_factory=list)
    anchors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chain_integrity: bool = False
    privacy: list[dict[str, Any]] = field(default_factory=list)  # the epsilon history of a DP run, by tree
    identity: str | None = None  # the Ethereum account the pre tree commits to
    submitters: dict[str, str] = field(default_factory=dict)  # stage -> who anchored it on Ethereum (from the chain)
    trusted_submitters: list[str] = field(default_factory=list)
    proven: list[str] = field(default_factory=list)  # for a run without an identity: what its checks proved
    not_proven: list[str] = field(default_factory=list)  # ... and what they cannot (who anchored it; when, for IPFS)
    data_sources: dict[str, str] = field(default_factory=dict)  # dataset -> the copy that was re-hashed

    @property
    def verdict(self) -> str:
        """PASSED; FAILED (something does not hold); INCOMPLETE (nothing wrong, something missing);
        CANNOT CHECK (nothing wrong or missing, but some checks could not be made: a network down,
        data not given). One scale everywhere; `verdicts.exit_code` gives each its exit code."""
        failed = [c for c in self.checks if not c.ok]
        if not self.checks or self.changes or any(not (c.incomplete or c.unchecked) for c in failed):
            return verdicts.FAILED
        if any(c.incomplete for c in failed):
            return verdicts.INCOMPLETE
        return verdicts.CANNOT_CHECK if failed else verdicts.PASSED

    @property
    def ok(self) -> bool:
        return self.verdict == verdicts.PASSED

    @property
    def exit_code(self) -> int:
        return verdicts.exit_code(self.verdict)

    @property
    def missing(self) -> list[str]:
        """What keeps the run from being complete, one line each."""
        return [c.detail for c in self.checks if c.incomplete and not c.ok]

    @property
    def unchecked(self) -> list[str]:
        """What could not be checked and what to supply, one line each."""
        return [c.detail for c in self.checks if c.unchecked and not c.ok]

    @property
    def trust(self) -> str:
        """How the run's identity was judged: against the verifier's trust list, or not at all."""
        return verdicts.trust_note(self.identity, self.trusted_submitters)

    def add(self, name: str, ok: bool, detail: str, incomplete: bool = False, unchecked: bool = False) -> bool:
        self.checks.append(Check(name, ok, detail, incomplete, unchecked))
        return ok

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "provenance-verification/v1",
            "run_id": self.run_id,
            "ok": self.ok,
            "verdict": self.verdict,
            # The original system's users read `chain_integrity` as the verdict ("✅ Provenance chain
            # integrity verified!"), so it holds only when the whole run verified; `tree_links` is
            # the narrower check that each tree commits to the previous root.
            "chain_integrity": self.chain_integrity and self.ok,
            "tree_links": self.chain_integrity,
            "identity": self.identity,
            "submitters": self.submitters,
            "trusted_submitters": self.trusted_submitters,
            "proven": self.proven,
            "not_proven": self.not_proven,
            "missing": self.missing,
            "unchecked": self.unchecked,
            "trust": self.trust,
            "well_known_identity": verdicts.well_known(self.identity),
            "data_sources": self.data_sources,
            "checks": [asdict(c) for c in self.checks],
            "changes": [asdict(c) | {"description": c.describe()} for c in self.changes],
            "anchors": self.anchors,
            "warnings": self.warnings,
            "privacy": self.privacy,
        }


def verify_run(
    run_dir: str | Path,
    *,
    anchors: Anchors | None = None,
    datasets: tuple[Any, Any] | None = None,
    config: ProvenanceConfig | Mapping[str, Any] | str | Path | None = None,
    submitters: Sequence[str] = (),
    engine: Any = None,
    spot_check: int | None = None,
    seed: int | None = None,
    data: Mapping[str, str] | None = None,
) -> VerificationReport:
    """Verify the run in `run_dir`. `datasets` = (train, test) for runs on in-memory data.
    `submitters`: Ethereum addresses the verifier trusts (with the config's
    `blockchain.ethereum.trusted_submitters`); the run's identity must be one of them.
    Sharded data (`data.shard` leaves) is re-hashed on `engine` ('local', 'dask' or an engine),
    or only `spot_check` random samples of it (seeded by `seed`), see `provenance.digests.shard_tracking`.
    `data` {NAME: PATH}: the verifier's own copies of the run's data files (`datasets.repoint`)."""
    run_dir = Path(run_dir)
    record = Record.load(run_dir / RECORD_FILE)
    if anchors is None:
        anchors = Anchors(load_settings(config), read_only=True)
    report = VerificationReport(record.run_id)
    report.trusted_submitters = trusted_addresses(list(submitters) + list(anchors.section("ethereum").trusted_submitters))
    descriptor = record.artifacts.get("dataset", {"source": "custom"})
    if data:
        descriptor = dataset_files.repoint(descriptor if isinstance(descriptor, Mapping) else {}, data)
    if isinstance(descriptor, Mapping) and datasets is None:
        report.data_sources = dataset_files.copies_checked(descriptor)
    _check_roots(record, report)
    report.chain_integrity = _check_chain(record, report)
    _check_artifacts(record, run_dir, datasets, report, descriptor)
    _check_model_signature(record, run_dir, report)
    for name, ok, detail in shard_tracking.check_run_shards(record, run_dir, datasets, engine=engine, spot_check=spot_check,
                                                            seed=seed, descriptor=descriptor):
        report.add(name, ok, detail, unchecked=not ok and "cannot re-hash" in detail and _absent(descriptor))
    _check_privacy(record, report)
    _check_anchors(record, anchors, report)
    return report


def trusted_addresses(addresses: Sequence[str]) -> list[str]:
    """The trusted submitters named (`--submitter`, the config), checksummed, once each; one line
    naming a value that is not an address."""
    from eth_utils import is_address, to_checksum_address

    out = []
    for address in addresses:
        if not isinstance(address, str) or not is_address(address):
            raise FormatError(f"trusted submitter: expected a 0x Ethereum address of 20 bytes, found {address!r}")
        if to_checksum_address(address) not in out:
            out.append(to_checksum_address(address))
    return out


def _check_roots(record: Record, report: VerificationReport) -> None:
    if not record.stages:
        report.add("record", False, "the record has no trees")
    for stage in record.stages:
        root = MerkleTree.of(stage.leaves).root
        report.add(
            f"tree {stage.name}", root == stage.root,
            f"root 0x{stage.root.hex()} recomputed from {len(stage.leaves)} leaves"
            if root == stage.root else f"recorded root 0x{stage.root.hex()} but its leaves give 0x{root.hex()}",
        )


def _check_chain(record: Record, report: VerificationReport) -> bool:
    names = [s.name for s in record.stages]
    ok = names[:1] == ["pre"] and len(set(names)) == len(names) and "post" not in names[:-1]
    if not ok:
        report.add("tree names", False, f"expected pre first, each name once and post last, found {', '.join(names) or 'no trees'}")
    for i, stage in enumerate(record.stages):
        links = [leaf for leaf in stage.leaves if leaf.kind == CHAIN_PREV]
        if i == 0:
            ok &= report.add(f"chain {stage.name}", not links and stage.prev is None, "first tree, no previous root"
                             if not links and stage.prev is None else "the first tree must not link to a previous root")
            continue
        prev = record.stages[i - 1]
        good = stage.prev == prev.name and len(links) == 1 and links[0].name == prev.name and links[0].digest == prev.root
        ok &= report.add(
            f"chain {stage.name}", good,
            f"commits to {prev.name} root 0x{prev.root.hex()}" if good else f"does not commit to the previous tree {prev.name!r}",
        )
    return ok


# ---------------------------------------------------------------------- artifacts

def _absent(descriptor: Any) -> bool:
    """Whether the data a descriptor names is not here at all (in memory only, or no file at its path)."""
    if not isinstance(descriptor, Mapping):
        return False
    path = descriptor.get("path")
    return descriptor.get("source") == "custom" or (isinstance(path, str) and not Path(path).exists())


def _check_artifacts(record: Record, run_dir: Path, data: tuple[Any, Any] | None, report: VerificationReport,
                     descriptor: Any = None) -> None:
    inputs = RunFiles(record, run_dir, data, report.add, descriptor if isinstance(descriptor, Mapping) else None)
    cache: dict[tuple[str, str], list[Leaf] | ProvenanceError] = {}
    for stage in record.stages:
        for kind in sorted({leaf.kind for leaf in stage.leaves}):
            recorded = [leaf for leaf in stage.leaves if leaf.kind == kind]
            row = KINDS.get(kind)
            if row is None:
                report.add(f"{stage.name} {kind}", False, f"{len(recorded)} leaves of kind {kind!r}: no way to re-hash them")
                continue
            if row.rehash is None:
                continue  # checked by a step of its own
            key = (kind, "" if row.per_run else stage.name)
            if key not in cache:
                try:
                    cache[key] = row.rehash(inputs, stage)
                except ProvenanceError as e:
                    cache[key] = e
            found = cache[key]
            if isinstance(found, ProvenanceError):
                report.add(f"{stage.name} {kind}", False, f"cannot re-hash {len(recorded)} leaves: {found}",
                           unchecked=isinstance(found, dataset_files.DataNotGiven))
                continue
            changes = _compare(stage.name, recorded, found)
            report.changes.extend(changes)
            report.add(
                f"{stage.name} {kind}", not changes,
                f"{len(recorded)} leaves re-hashed, all equal" if not changes
                else (f"{len(changes)} of {len(recorded)} leaves differ: " if len(changes) <= len(recorded) and len(found) == len(recorded)
                      else f"{len(recorded)} leaves recorded, {len(found)} re-hashed, {len(changes)} differences: ") + ", ".join(c.describe() for c in changes[:5])
                + (" ..." if len(changes) > 5 else ""),
            )


def _check_model_signature(record: Record, run_dir: Path, report: VerificationReport) -> None:
    """An OpenSSF model-signing bundle next to the model, when there is one: the files it vouches
    for must be the last tree's `model.file` leaves, byte for byte (`model_signature`)."""
    from .model_signature import check_signature

    found = check_signature(record, run_dir)
    if found is not None:
        report.add("model signature", *found)


def _compare(stage: str, recorded: Sequence[Leaf], found: Sequence[Leaf]) -> list[LeafChange]:
    before = {(x.kind, x.name): x for x in recorded}
    after = {(x.kind, x.name): x for x in found}
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        change = "missing" if new is None else "unexpected" if old is None else "changed"
        changes.append(LeafChange(stage, key[0], key[1], change, _digest(old), _digest(new)))
    return changes


def _digest(leaf: Leaf | None) -> str | None:
    return None if leaf is None else f"0x{leaf.digest.hex()} ({leaf.size} bytes)"


def _check_privacy(record: Record, report: VerificationReport) -> None:
    """The epsilon history of a DP run, from the stages' metrics (whose leaves `_check_artifacts`
    has re-hashed): present in every epoch tree, non-decreasing, within the committed target."""
    target = record.config.get("dp")
    stages = [s for s in record.stages if has_privacy(s)]
    if target is None and not stages:
        return
    if not isinstance(target, dict):
        report.add("privacy target", False, "trees hold privacy leaves, but the run's config commits to no DP target")
        return
    missing = [s.name for s in record.stages if s.name.startswith("epoch-") and not has_privacy(s)]
    if missing:
        report.add("privacy in every epoch", False, "no privacy leaves in " + ", ".join(missing))
    history = []
    for stage in stages:
        try:
            accounting = privacy.Accounting.from_json(accounting_json(stage), where=f"tree {stage.name!r} privacy")
        except FormatError as e:
            report.add(f"{stage.name} privacy accounting", False, str(e))
            return
        history.append((stage.name, accounting))
        report.privacy.append({"stage": stage.name} | accounting.to_json())
    for name, ok, detail in privacy.check_history(history, target):
        report.add(name, ok, detail)


# ---------------------------------------------------------------------- anchors

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
