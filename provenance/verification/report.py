"""Reports of a run: `report.json` for machines and `report.md` for people.

What was hashed, the roots and how they chain, every anchor with its state and where to look it
up, the verification's checks and any leaf that changed, and the timings.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..files import atomic_write_bytes, atomic_write_json
from ..record import Record
from .verify import VerificationReport

FORMAT = "provenance-report/v1"


def report_json(record: Record, verification: VerificationReport) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "run_id": record.run_id,
        "canonicalization": record.canonicalization,
        "trees": [
            {"stage": s.name, "root": "0x" + s.root.hex(), "prev": s.prev, "created_at": s.created_at,
             "leaves": dict(Counter(leaf.kind for leaf in s.leaves))}
            for s in record.stages
        ],
        "anchors": [r.to_json() for r in record.receipts],
        "dataset": record.artifacts.get("dataset", {}),
        "code": record.code,
        "environment": {k: v for k, v in record.environment.items() if k != "packages"},
        "verification": verification.to_json(),
        "privacy": {"target": record.config["dp"], "history": verification.privacy} if "dp" in record.config else None,
        "timings": record.timings,
    }


def write_reports(record: Record, verification: VerificationReport, run_dir: Path) -> Path:
    """Write report.json and report.md into `run_dir`; returns the JSON report's path."""
    data = report_json(record, verification)
    path = atomic_write_json(run_dir / "report.json", data)
    atomic_write_bytes(run_dir / "report.md", render_markdown(data).encode())
    return path


def render_markdown(data: dict[str, Any]) -> str:
    v = data["verification"]
    lines = [
        f"# Provenance report: {data['run_id']}",
        "",
        f"**Verification: {v.get('verdict', 'PASSED' if v['ok'] else 'FAILED')}** — tree links: {'yes' if v.get('tree_links', v['chain_integrity']) else 'NO'}",
        "",
        f"Identity (committed in the pre tree): `{v.get('identity') or 'none'}`",
        "",
        "## Trees (each commits to the one before through a `chain.prev` leaf)",
        "",
        "| stage | root | follows | leaves |",
        "|---|---|---|---|",
    ]
    for t in data["trees"]:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(t["leaves"].items()))
        lines.append(f"| {t['stage']} | `{t['root']}` | {t['prev'] or '—'} | {kinds} |")
    if v.get("missing"):
        lines += ["", "## Missing (INCOMPLETE)", ""] + [f"- {m}" for m in v["missing"]]
    submitters = v.get("submitters", {})
    lines += ["", "## Anchors", "", "| stage | network | state | anchored by (from the chain) | where to look |", "|---|---|---|---|---|"]
    for a in data["anchors"]:
        where = ", ".join(f"{k} `{val}`" for k, val in a["location"].items() if k in ("chain_id", "contract", "tx_hash", "block_number", "cid", "txid", "vout"))
        state = a["state"] + (f" ({a['reason']})" if a.get("reason") else "")
        by = submitters.get(a["stage"], "—") if a["network"] == "ethereum" else "—"
        lines.append(f"| {a['stage']} | {a['network']} | {state} | {by} | {where or '—'} |")
    if data.get("privacy"):
        target = data["privacy"]["target"]
        lines += ["", f"## Differential privacy (target epsilon {target.get('target_epsilon')}, delta {target.get('delta')}, "
                  f"max grad norm {target.get('max_grad_norm')})", "",
                  "| tree | epsilon | delta | steps | noise multiplier | sample rate | accountant |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {h['stage']} | {h['epsilon']:.4f} | {h['delta']:g} | {h['steps']} | {h['noise_multiplier']:.4f} | "
                  f"{h['sample_rate']:.5f} | {h['accountant']} |" for h in data["privacy"]["history"]]
    if v["changes"]:
        lines += ["", "## Changed leaves", ""] + [f"- {c['description']}: recorded {c['recorded']}, found {c['found']}" for c in v["changes"]]
    if v.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in v["warnings"]]
    lines += ["", "## Checks", "", "| check | result | detail |", "|---|---|---|"]
    lines += [f"| {c['name']} | {'ok' if c['ok'] else 'FAILED'} | {c['detail']} |" for c in v["checks"]]
    lines += ["", "## Timings (seconds)", ""] + [f"- {k}: {val:.3f}" for k, val in data["timings"].items()]
    return "\n".join(lines) + "\n"
