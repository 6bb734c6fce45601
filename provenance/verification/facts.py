"""The facts of a run's report, as one JSON value (`report.json`) that the Markdown and HTML views
both render, so they say the same things.

The verdict first; what was hashed, the roots and how they chain; the metrics, dataset and git
commit; every anchor with its state, who made it, when and in which block (as the chain says, not
the receipt) and, where the network has a public explorer, a link; the verification's checks and
any leaf that changed; and the timings.
"""

from __future__ import annotations

import numbers
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Mapping

from ..merkle.kinds import DATA_SAMPLE, DATA_SHARD
from ..record import ACCURACY_KEYS, LOSS_KEYS, Record
from .links import explorer_link
from .verify import VerificationReport

FORMAT = "provenance-report/v1"

CANNOT_CHECK = "CANNOT CHECK"


def report_json(record: Record, verification: VerificationReport) -> dict[str, Any]:
    v = verification.to_json()
    return {
        "format": FORMAT,
        "run_id": record.run_id,
        "verdict": headline(v),
        "canonicalization": record.canonicalization,
        "metrics": metrics_json(record),
        "trees": [
            {"stage": s.name, "root": "0x" + s.root.hex(), "prev": s.prev, "created_at": s.created_at,
             "leaves": dict(Counter(leaf.kind for leaf in s.leaves))}
            for s in record.stages
        ],
        "anchors": [entry.to_json() | {"link": explorer_link(entry.receipt.network, entry.receipt.location),
                                       "checked": _checked(entry.stage, entry.receipt.network, v["anchors"])}
                    for entry in record.receipts],
        "dataset": dataset_as_committed(record),
        "code": record.code,
        "environment": {k: val for k, val in record.environment.items() if k != "packages"},
        "verification": v,
        "privacy": {"target": record.config["dp"], "history": verification.privacy} if "dp" in record.config else None,
        "timings": record.timings,
    }


def headline(verification: Mapping[str, Any]) -> str:
    """The verdict shown first: the verifier's PASSED / FAILED / INCOMPLETE, except that a FAILED
    whose only failures are anchors the verifier could not ask about (a network down) reads CANNOT
    CHECK: nothing was found against the run, and nothing was shown to hold."""
    verdict = verification.get("verdict") or ("PASSED" if verification.get("ok") else "FAILED")
    if verdict != "FAILED" or verification.get("changes"):
        return verdict
    unasked = {f"anchor {a.get('stage')} {a.get('network')}" for a in verification.get("anchors", [])
               if a.get("status") == "cannot check"}
    failed = [c for c in verification.get("checks", []) if not c.get("ok") and not c.get("incomplete")]
    return CANNOT_CHECK if failed and all(c.get("name") in unasked for c in failed) else verdict


def metrics_json(record: Record) -> dict[str, Any]:
    """The numbers the trees commit to (`metrics` / `results` leaves): per epoch, the final tree's,
    and a headline accuracy and loss (the first of `ACCURACY_KEYS` / `LOSS_KEYS` found)."""
    epochs = [{"stage": s.name} | _numbers(s.metrics) for s in record.stages if s.name.startswith("epoch-") and _numbers(s.metrics)]
    last = record.last_stage
    final = _numbers(last.metrics) if last is not None and last.name == "post" else {}
    latest = epochs[-1] if epochs else {}
    return {
        "accuracy": _first(final, ACCURACY_KEYS, _first(latest, ACCURACY_KEYS)),
        "loss": _first(latest, LOSS_KEYS, _first(final, LOSS_KEYS)),
        "final": final,
        "epochs": epochs,
    }


def anchor_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per anchor for people: stage, network, state, whether verification could confirm it,
    who anchored it, when and in which block (from the chain where the verifier read it), where to
    look, and the explorer link (None on local chains)."""
    rows = []
    for a in data["anchors"]:
        checked = a.get("checked") or {}
        facts = checked.get("facts") or {}
        location = a.get("location") or {}
        when = _utc(facts.get("timestamp"))
        rows.append({
            "stage": a.get("stage"), "network": a.get("network"),
            "state": str(a.get("state")) + (f" ({a['reason']})" if a.get("reason") else ""),
            "verified": checked.get("status", "not checked"),
            "submitter": facts.get("submitter") or location.get("submitter"),
            "submitter_from_chain": bool(facts.get("submitter")),
            "when": when or a.get("updated_at"),
            "when_from_chain": bool(when),
            "block": facts.get("block_number", location.get("block_number")),
            "where": {k: location[k] for k in ("chain_id", "contract", "tx_hash", "cid", "chain", "txid", "vout") if k in location},
            "link": a.get("link"),
        })
    return rows


def dataset_as_committed(record: Record) -> dict[str, Any]:
    """The record's dataset descriptor with its sample counts taken from the `pre` tree's leaves
    (one per sample, or one per shard holding its count), which the anchored root covers. A count
    the `artifacts` entry states otherwise (not covered by a batched anchor) is kept beside it as
    `unverified_<count>`, so a report never states it as fact."""
    descriptor = record.artifacts.get("dataset", {})
    dataset = dict(descriptor) if isinstance(descriptor, Mapping) else {}
    pre = record.stages[0] if record.stages else None
    if pre is None:
        return dataset
    samples = [leaf.name for leaf in pre.leaves if leaf.kind == DATA_SAMPLE]
    shards = [leaf.size for leaf in pre.leaves if leaf.kind == DATA_SHARD]
    if shards:
        counts = {"train_samples": sum(shards)} if "test_samples" not in dataset else {}
    elif samples:
        counts = {"train_samples": sum(n.startswith("train/") for n in samples),
                  "test_samples": sum(n.startswith("test/") for n in samples)}
    else:
        counts = {}
    for key, n in counts.items():
        if key in dataset and dataset[key] != n:
            dataset[f"unverified_{key}"] = dataset[key]
        dataset[key] = n
    return dataset


def dataset_summary(dataset: Mapping[str, Any]) -> str:
    """`sklearn-digits: 1438 train, 359 test samples (seed 0)` from the record's dataset descriptor."""
    if not dataset:
        return "none recorded"
    parts = [str(dataset.get("source", "custom"))]
    counts = [f"{dataset[k]} {k.split('_')[0]}" for k in ("train_samples", "test_samples") if k in dataset]
    text = parts[0] + (": " + ", ".join(counts) + " samples" if counts else "")
    claimed = [f"{dataset[f'unverified_{k}']} {k.split('_')[0]}" for k in ("train_samples", "test_samples")
               if f"unverified_{k}" in dataset]
    if claimed:  # the trees' counts are shown; what the uncovered descriptor says is marked as such
        text += f" in the anchored trees (record.json's artifacts claim {', '.join(claimed)}: not covered by any anchor)"
    return text + (f" (seed {dataset['seed']})" if "seed" in dataset else "")


def git_summary(git: Mapping[str, Any]) -> str:
    """`98145fd… on main, clean` (or `dirty: N bytes of diff, M untracked files`)."""
    if not git or not git.get("commit"):
        return "none recorded (not a git checkout)"
    text = f"{git['commit']}" + (f" on {git['branch']}" if git.get("branch") else "")
    if git.get("dirty"):
        return text + f", dirty: {git.get('diff_bytes', '?')} bytes of uncommitted diff, {git.get('untracked_files', '?')} untracked files"
    return text + ", clean"


def _checked(stage: str, network: str, checked: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What verification found for this anchor (status, detail, facts read from the network)."""
    for a in checked:
        if a.get("stage") == stage and a.get("network") == network:
            return {k: a.get(k) for k in ("status", "ok", "detail", "confirmations", "facts")}
    return None


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {str(k): v for k, v in metrics.items() if isinstance(v, numbers.Real) and not isinstance(v, bool)}


def _first(values: Mapping[str, Any], keys: tuple[str, ...], default: Any = None) -> Any:
    return next((values[k] for k in keys if k in values), default)


def _utc(timestamp: Any) -> str | None:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or not 0 < timestamp < 2**40:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_number(value: Any) -> str:
    """A metric for a person: 4 significant digits for floats, a dash for none."""
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
