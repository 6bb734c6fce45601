"""Reports of a run: `report.json` for machines, `report.md` and `report.html` for people, written
into the run folder (each atomically). The facts are `facts.report_json`; this module writes them
and renders the Markdown; `html.py` renders the page.
"""

from __future__ import annotations

import numbers
import re
from pathlib import Path
from typing import Any

from ..errors import ProvenanceError
from ..files import HTML_FILE, REPORT_FILE, REPORT_MD_FILE, atomic_write_bytes, atomic_write_json, read_json
from . import verdicts
from ..record import Record
from . import html as html_report
from .facts import CANNOT_CHECK, FORMAT, anchor_rows, dataset_summary, format_number, git_summary, headline, report_json
from .verify import VerificationReport

__all__ = ["FORMAT", "HTML_FILE", "headline", "render_markdown", "report_json", "write_reports"]



def saved_finding(record: Record, verification: VerificationReport, run_dir: Path) -> str | None:
    """The verdict of the run's saved report when the new one must not replace it: a CANNOT CHECK
    (nothing could be asked) never overwrites a PASSED, FAILED or INCOMPLETE about the same trees."""
    path = run_dir / REPORT_FILE
    if verification.verdict != verdicts.CANNOT_CHECK or not path.is_file():
        return None
    try:
        saved = read_json(path, "report")
    except ProvenanceError:
        return None  # an unreadable report is no finding to keep
    if not isinstance(saved, dict) or not isinstance(saved.get("verification"), dict):
        return None
    trees = [(t.get("stage"), t.get("root")) for t in saved.get("trees", []) if isinstance(t, dict)]
    if trees != [(s.name, "0x" + s.root.hex()) for s in record.stages]:
        return None  # about other trees: the new report is about these
    verdict = saved.get("verdict") or saved["verification"].get("verdict")
    return None if verdicts.replaces(verification.verdict, verdict) else verdict


def write_reports(record: Record, verification: VerificationReport, run_dir: Path, *, html: bool = True) -> Path:
    """Write report.json, report.md and (with `html`) report.html into `run_dir`, each atomically,
    all three rendered before the first is written (a failure leaves the earlier set whole);
    returns the JSON report's path. The HTML needs matplotlib for its plots and says so without it.
    A saved finding is never replaced by a CANNOT CHECK (`saved_finding`): the files stay as they are."""
    if saved_finding(record, verification, run_dir) is not None:
        return run_dir / REPORT_FILE
    data = report_json(record, verification)
    markdown = render_markdown(data).encode()
    page = html_report.render(data, html_report.figures(record, verification)).encode() if html else None
    path = atomic_write_json(run_dir / REPORT_FILE, data)
    atomic_write_bytes(run_dir / REPORT_MD_FILE, markdown)
    if page is not None:
        atomic_write_bytes(run_dir / HTML_FILE, page)
    return path


def render_markdown(data: dict[str, Any]) -> str:
    v = data["verification"]
    verdict = data.get("verdict") or headline(v)
    m = data.get("metrics") or {}
    git = (data.get("code") or {}).get("git") or {}
    dataset = data.get("dataset") or {}
    lines = [
        f"# Provenance report: {_md(data['run_id'])}",
        "",
        f"**Verification: {verdict}** — tree links: {'yes' if v.get('tree_links', v['chain_integrity']) else 'NO'}"
        + (" (some checks could not be made: supply what is named below)" if verdict == CANNOT_CHECK else ""),
        *[f"- NOT proven: {_md(line)}" for line in v.get("not_proven") or []],  # an IPFS-only / Bitcoin-only run
        "",
        *[f"> {_md(x)}" for x in (v.get("trust"), v.get("well_known_identity")) if x],
        *([""] if v.get("trust") or v.get("well_known_identity") else []),
        f"- Accuracy: {_md(format_number(m.get('accuracy')))}; loss: {_md(format_number(m.get('loss')))} (as committed in the trees)",
        f"- Dataset: {_md(dataset_summary(dataset))}",
        f"- Git commit: {_md(git_summary(git))}",
        f"- Identity (committed in the pre tree): `{_md(v.get('identity') or 'none')}`",
        "",
        "## Trees (each commits to the one before through a `chain.prev` leaf)",
        "",
        "| stage | root | follows | leaves |",
        "|---|---|---|---|",
    ]
    for t in data["trees"]:
        kinds = ", ".join(f"{n} {_md(k)}" for k, n in sorted(t["leaves"].items()))
        lines.append(f"| {_md(t['stage'])} | `{t['root']}` | {_md(t['prev'] or '—')} | {kinds} |")
    if m.get("epochs"):
        keys = sorted({k for e in m["epochs"] for k in e if k != "stage"})
        lines += ["", "## Metrics by epoch", "", "| tree | " + " | ".join(_md(k) for k in keys) + " |", "|---" * (len(keys) + 1) + "|"]
        lines += [f"| {_md(e['stage'])} | " + " | ".join(_md(format_number(e.get(k))) for k in keys) + " |" for e in m["epochs"]]
    if v.get("missing"):
        lines += ["", "## Missing (INCOMPLETE)", ""] + [f"- {_md(x)}" for x in v["missing"]]
    if v.get("unchecked"):
        lines += ["", "## Could not be checked (CANNOT CHECK)", ""] + [f"- {_md(x)}" for x in v["unchecked"]]
    if v.get("data_sources"):
        lines += ["", "## Data checked", ""] + [f"- {_md(k)}: `{_md(p)}`" for k, p in v["data_sources"].items()]
    lines += _anchor_lines(data) + _privacy_lines(data.get("privacy"))
    if v["changes"]:
        lines += ["", "## Changed leaves", ""] + [f"- **{_md(c['description'])}**: recorded {_md(c['recorded'])}, found {_md(c['found'])}"
                                                  for c in v["changes"]]
    if v.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {_md(w)}" for w in v["warnings"]]
    lines += ["", "## Checks", "", "| check | result | detail |", "|---|---|---|"]
    lines += [f"| {_md(c['name'])} | {'ok' if c['ok'] else 'MISSING' if c.get('incomplete') else 'UNCHECKED' if c.get('unchecked') else 'FAILED'} | {_md(c['detail'])} |"
              for c in v["checks"]]
    lines += ["", "## Timings (seconds)", ""] + [f"- {_md(k)}: {val:.3f}" for k, val in data["timings"].items()
                                                 if isinstance(val, numbers.Real)]
    return "\n".join(lines) + "\n"



def _anchor_lines(data: dict[str, Any]) -> list[str]:
    lines = ["", "## Anchors", "", "| stage | network | state | verified | anchored by | when | block | where to look |",
             "|---|---|---|---|---|---|---|---|"]
    for a in anchor_rows(data):
        where = ", ".join(f"{k} `{_md(val)}`" for k, val in a["where"].items())
        if a["link"]:
            where += f" ([explorer]({a['link']}))"
        by = _md(a["submitter"] or "—") + ("" if a["submitter_from_chain"] or not a["submitter"] else " (per receipt)")
        when = _md(a["when"] or "—") + ("" if a["when_from_chain"] or not a["when"] else " (per receipt)")
        lines.append(f"| {_md(a['stage'])} | {_md(a['network'])} | {_md(a['state'])} | {_md(a['verified'])} | {by} | {when} | "
                     f"{_md(a['block'] if a['block'] is not None else '—')} | {where or '—'} |")
    return lines


def _privacy_lines(privacy: dict[str, Any] | None) -> list[str]:
    if not privacy:
        return []
    target = privacy["target"]
    lines = ["", f"## Differential privacy (target epsilon {target.get('target_epsilon')}, delta {target.get('delta')}, "
             f"max grad norm {target.get('max_grad_norm')})", "",
             "| tree | epsilon | delta | steps | noise multiplier | sample rate | accountant |", "|---|---|---|---|---|---|---|"]
    return lines + [f"| {_md(h['stage'])} | {h['epsilon']:.4f} | {h['delta']:g} | {_md(h['steps'])} | {h['noise_multiplier']:.4f} | "
                    f"{h['sample_rate']:.5f} | {_md(h['accountant'])} |" for h in privacy["history"]]


def _md(value: Any) -> str:
    """A value from the record inside Markdown: pipes and newlines would break the table, `<`
    would let a viewer that renders HTML in Markdown run the record's markup, and Markdown's own
    syntax (`[x](javascript:...)` links, `**`, backticks) would make the record's text a link or
    emphasis; each such character is backslash-escaped, so it shows as itself."""
    text = (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", " ").replace("\n", " "))
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(), text)


_MD_SPECIAL = re.compile(r"[\\`*_\[\]!|~]")
