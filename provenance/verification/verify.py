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

from pathlib import Path
from typing import Any, Mapping, Sequence

from ..digests import datasets as dataset_files
from ..digests import privacy
from .shards import check_run_shards
from ..anchoring import Anchors
from ..config import ProvenanceConfig, load_settings
from ..errors import FormatError, ProvenanceError
from ..merkle import Leaf, MerkleTree
from ..record import CHAIN_PREV, Record
from ..record.kinds import KINDS, RunFiles, accounting_json, has_privacy
from ..files import RECORD_FILE
from .results import Check, LeafChange, VerificationReport  # noqa: F401 - the report's old home
from .anchor_checks import _check_anchors


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
    or only `spot_check` random samples of it (seeded by `seed`), see `provenance.verification.shards`.
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
    for name, ok, detail in check_run_shards(record, run_dir, datasets, engine=engine, spot_check=spot_check,
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


