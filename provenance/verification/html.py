"""`report.html`: one self-contained page for people, from the same facts as `report.json`.

The verdict first (big, coloured), then the headline facts (accuracy, loss, dataset, git commit,
identity), any changed leaf highlighted, the trees with their roots and anchors (who, when, which
block, an explorer link only where the network has a public one), the metrics by epoch, the plots
of `plots.py` inlined as PNG data, every check, and the environment and timings.

How it stays safe: the run folder is the attacker's, so every value taken from the record goes
through `html.escape` (text and attributes alike); links are built by `links.explorer_link` from a
fixed base and a transaction id of the network's exact shape; and a Content-Security-Policy
allows no script, no fetch and no image but inline data, so even markup that slipped through could
neither run nor phone home. The page loads nothing from the network: CSS inline, images inline,
system fonts.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from html import escape
from typing import Any, Iterable, Mapping, Sequence

from ..errors import ProvenanceError
from ..merkle import Leaf, MerkleTree
from ..merkle.kinds import MODEL_FILE
from ..record import CHAIN_PREV, Record
from .facts import CANNOT_CHECK, anchor_rows, dataset_summary, format_number, git_summary, headline
from .verify import VerificationReport
from .html_style import CSP, STYLE

# Trees up to this many leaves are drawn whole; bigger ones as the highlighted leaf's proof path.
WHOLE_TREE_MAX_LEAVES = 40
DPI = 90

VERDICT_CLASS = {"PASSED": "passed", "FAILED": "failed", "INCOMPLETE": "incomplete", CANNOT_CHECK: "cannot-check"}
VERDICT_LINE = {
    "PASSED": "every artifact re-hashes to its anchored leaf, every tree is anchored by the run's identity, in order",
    "FAILED": "something does not hold: see the changed leaves and failed checks below",
    "INCOMPLETE": "nothing found wrong, something missing: see below",
    CANNOT_CHECK: "some checks could not be made (a network down, data not given): nothing found against the run, nothing "
                  "shown to hold; supply what is named below and verify again",
}


@dataclass(frozen=True)
class Plot:
    """One picture of the report: an id for the page, a title, a caption and its PNG bytes."""

    key: str
    title: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Figures:
    plots: tuple[Plot, ...]
    notes: tuple[str, ...] = ()  # why a plot is absent (no matplotlib, a record it cannot draw)


def figures(record: Record, verification: VerificationReport) -> Figures:
    """The report's pictures (training curves, timeline, a tree with a proof path: the changed leaf's
    if a leaf changed), drawn by `plots.py` and rendered to PNG. Without matplotlib: none, and a note."""
    try:
        import matplotlib
    except ImportError:
        return Figures((), ("no plots: they need matplotlib (pip install ml-provenance[plots])",))
    import matplotlib.pyplot as plt

    from . import plots

    drawn: list[Plot] = []
    notes: list[str] = []

    def draw(key: str, title: str, caption: str, make: Any) -> None:
        try:
            fig = make()
        except (ProvenanceError, ValueError, KeyError, TypeError, RuntimeError) as e:  # a record it cannot draw
            notes.append(f"{title}: not drawn ({type(e).__name__}: {e})")
            return
        try:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        finally:
            plt.close(fig)
        drawn.append(Plot(key, title, caption, buffer.getvalue()))

    # Names from the record are text, never mathtext: `$` in a leaf name must not be parsed (or fail).
    # Only that one setting is swapped and put back: `rc_context` would also put back what a first
    # figure sets up (a notebook's inline backend turns interactive mode on), and plots would vanish.
    parse_math = matplotlib.rcParams["text.parse_math"]
    matplotlib.rcParams["text.parse_math"] = False
    try:
        history = _history(record)
        if history:
            draw("curves", "Training", "Loss and test accuracy per epoch, as committed in the epoch trees.",
                 lambda: plots.training_curves(history, _privacy(verification)))
        if record.stages:
            draw("timeline", "Timeline", "Each tree commits to the one before (chain.prev); under each, its anchors "
                 "(green: at least one confirmed).", lambda: plots.timeline(record))
        chosen = _tree_to_draw(record, verification)
        if chosen is not None:
            stage, tree, leaf, why = chosen
            whole = len(tree) <= WHOLE_TREE_MAX_LEAVES
            draw("tree", f"Tree {stage}", f"{why} In red the path from {leaf.label} to the root, in blue the hashes of its proof"
                 + ("." if whole else f" (the tree has {len(tree)} leaves: only the path is drawn)."),
                 lambda: plots.merkle_tree(tree, highlight=leaf) if whole else plots.proof_path(tree, leaf))
    finally:
        matplotlib.rcParams["text.parse_math"] = parse_math
    return Figures(tuple(drawn), tuple(notes))


def render(data: Mapping[str, Any], figs: Figures = Figures(())) -> str:
    """The whole page, from `facts.report_json`'s dict and the figures."""
    v = data["verification"]
    verdict = data.get("verdict") or headline(v)
    changes = v.get("changes") or []
    changed_stages = {c.get("stage") for c in changes}
    body = [
        _verdict(verdict, data, v),
        "<main>",
        _summary(data, v),
        _changes(changes),
        _list("missing", "Missing (INCOMPLETE)" if verdict == "INCOMPLETE" else "Not confirmed", v.get("missing") or [], "missing"),
        _trees(data, changes, changed_stages),
        _anchors(data),
        _metrics(data.get("metrics") or {}),
        _plots(figs),
        _privacy_table(data.get("privacy")),
        _list("warnings", "Warnings", v.get("warnings") or [], ""),
        _checks(v.get("checks") or []),
        _environment(data),
        f'<footer>{e(data.get("format", ""))} · {e(v.get("format", ""))} · canonicalisation {e(data.get("canonicalization", ""))}'
        " · generated by provenance; this page loads nothing from the network</footer>",
        "</main>",
    ]
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{e(verdict)}: provenance report {e(data.get('run_id', ''))}</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(part for part in body if part) + "\n</body>\n</html>\n"
    )


def e(value: Any) -> str:
    """A value from the record as HTML text or attribute content."""
    return escape("" if value is None else str(value), quote=True)


# ---------------------------------------------------------------------- sections

def _verdict(verdict: str, data: Mapping[str, Any], v: Mapping[str, Any]) -> str:
    checks = v.get("checks") or []
    failed = sum(1 for c in checks if not c.get("ok"))
    return (f'<header id="verdict" class="verdict {VERDICT_CLASS.get(verdict, "failed")}">'
            f'<div class="word">{e(verdict)}</div><div class="line">{e(VERDICT_LINE.get(verdict, ""))}</div>'
            f'<div class="run">run {e(data.get("run_id"))} · {len(checks)} checks, {failed} not passed · '
            f'tree links {"ok" if v.get("tree_links", v.get("chain_integrity")) else "BROKEN"}</div>'
            + "".join(f'<div class="line">{e(x)}</div>' for x in _trust_lines(v)) + '</header>')


def _trust_lines(v: Mapping[str, Any]) -> list[str]:
    """The banner's lines about who anchored: the trust list (or its absence), a well-known key."""
    return [x for x in (v.get("trust"), v.get("well_known_identity")) if x]


def _summary(data: Mapping[str, Any], v: Mapping[str, Any]) -> str:
    m = data.get("metrics") or {}
    git = (data.get("code") or {}).get("git") or {}
    trees = data.get("trees") or []
    final = trees[-1] if trees else None
    rows = [
        ("Accuracy", f'<span class="big">{e(format_number(m.get("accuracy")))}</span> <span class="muted">(as committed in the trees)</span>'),
        ("Loss", f'<span class="big">{e(format_number(m.get("loss")))}</span>'),
        ("Dataset", e(dataset_summary(data.get("dataset") or {}))),
        ("Git commit", f'<code>{e(git_summary(git))}</code>'),
        ("Identity", f'<code>{e(v.get("identity") or "none committed")}</code> <span class="muted">(the Ethereum account the pre tree '
                     "commits to)</span>"),
        ("Final root", f'<code class="hex">{e(final["root"])}</code> <span class="muted">(tree {e(final["stage"])})</span>'
         if final else "no trees"),
    ]
    if v.get("trusted_submitters"):
        rows.append(("Trusted submitters", ", ".join(f"<code>{e(t)}</code>" for t in v["trusted_submitters"])))
    return '<section id="summary"><dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{val}</dd>" for k, val in rows) + "</dl></section>"


def _changes(changes: Sequence[Mapping[str, Any]]) -> str:
    if not changes:
        return ""
    rows = [f'<tr class="changed"><td class="changed-leaf">{e(c.get("kind"))}:{e(c.get("name"))}</td><td>{e(c.get("stage"))}</td>'
            f'<td>{e(c.get("change"))}</td><td class="hex">{e(c.get("recorded") or "—")}</td><td class="hex">{e(c.get("found") or "—")}</td></tr>'
            for c in changes]
    return ('<section id="changes"><h2>Changed leaves</h2><p>Each artifact below no longer hashes to the leaf its tree '
            "recorded (and anchored).</p><table><thead><tr><th>leaf</th><th>tree</th><th>change</th><th>recorded</th>"
            "<th>found now</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>")


def _trees(data: Mapping[str, Any], changes: Sequence[Mapping[str, Any]], changed_stages: set[Any]) -> str:
    by_stage: dict[Any, list[dict[str, Any]]] = {}
    for row in anchor_rows(data):
        by_stage.setdefault(row["stage"], []).append(row)
    rows = []
    for t in data.get("trees") or []:
        kinds = ", ".join(f"{n} {e(k)}" for k, n in sorted(t.get("leaves", {}).items()))
        anchors = "<br>".join(_anchor_summary(a) for a in by_stage.get(t["stage"], [])) or '<span class="missing">not anchored</span>'
        changed = [c for c in changes if c.get("stage") == t["stage"]]
        note = "".join(f'<div class="changed-leaf">changed: {e(c.get("kind"))}:{e(c.get("name"))}</div>' for c in changed)
        row_class = ' class="changed"' if t["stage"] in changed_stages else ""
        rows.append(f'<tr{row_class}><td>{e(t["stage"])}</td>'
                    f'<td><code class="root">{e(t["root"])}</code></td><td>{e(t.get("prev") or "—")}</td><td>{kinds}{note}</td>'
                    f'<td>{anchors}</td><td>{e(t.get("created_at") or "—")}</td></tr>')
    return ('<section id="trees"><h2>Trees and their anchors</h2><p class="muted">Each tree commits to the one before '
            "through a chain.prev leaf, so the final root commits to the whole history.</p><table><thead><tr><th>tree</th>"
            "<th>root</th><th>follows</th><th>leaves</th><th>anchors</th><th>built (per record)</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")


def _anchor_summary(a: Mapping[str, Any]) -> str:
    status = a["verified"]
    cls = _status_class(status)
    block = f", block {e(a['block'])}" if a["block"] is not None else ""
    return f'{e(a["network"])}: {e(a["state"])}, verified <span class="{cls}">{e(status)}</span>{block}{_link(a["link"])}'


def _status_class(status: str) -> str:
    """The CSS class of an anchor's verification status: held, not asked, or failed."""
    return "ok" if status == "ok" else "missing" if status in ("cannot check", "not checked") else "no"


def _anchors(data: Mapping[str, Any]) -> str:
    rows = []
    for a in anchor_rows(data):
        status = a["verified"]
        cls = _status_class(status)
        where = "<br>".join(f'{e(k)} <code class="hex">{e(val)}</code>' for k, val in a["where"].items()) or "—"
        by = (f'<code class="hex">{e(a["submitter"])}</code>' + ("" if a["submitter_from_chain"] else ' <span class="muted">(per receipt)</span>')
              if a["submitter"] else "—")
        when = (e(a["when"]) + ("" if a["when_from_chain"] else ' <span class="muted">(per receipt)</span>')) if a["when"] else "—"
        row_class = "" if status == "ok" else ' class="bad"'
        rows.append(f'<tr{row_class}><td>{e(a["stage"])}</td><td>{e(a["network"])}</td>'
                    f'<td>{e(a["state"])}</td><td class="{cls}">{e(status)}</td><td>{by}</td><td>{when}</td>'
                    f'<td>{e(a["block"] if a["block"] is not None else "—")}</td><td>{where}{_link(a["link"])}</td></tr>')
    if not rows:
        return '<section id="anchors"><h2>Anchors</h2><p class="missing">No anchors recorded.</p></section>'
    return ('<section id="anchors"><h2>Anchors</h2><p class="muted">Who anchored each tree, when and in which block, as '
            "the verifier read them from the chain. An explorer link appears only where the network has a public explorer "
            "(local chains and regtest have none).</p><table><thead><tr><th>tree</th><th>network</th><th>state</th><th>verified</th>"
            "<th>anchored by</th><th>when</th><th>block</th><th>where to look</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table></section>")


def _metrics(m: Mapping[str, Any]) -> str:
    epochs = m.get("epochs") or []
    final = m.get("final") or {}
    if not epochs and not final:
        return ""
    keys = sorted({k for row in epochs for k in row if k != "stage"})
    table = ""
    if epochs:
        table = ("<table><thead><tr><th>tree</th>" + "".join(f"<th>{e(k)}</th>" for k in keys) + "</tr></thead><tbody>"
                 + "".join("<tr><td>" + e(row["stage"]) + "</td>" + "".join(f"<td>{e(format_number(row.get(k)))}</td>" for k in keys) + "</tr>"
                           for row in epochs) + "</tbody></table>")
    final_text = ", ".join(f"{e(k)} {e(format_number(val))}" for k, val in sorted(final.items()))
    return ('<section id="metrics"><h2>Metrics</h2>' + table
            + (f"<p>Final tree: {final_text}</p>" if final_text else "") + "</section>")


def _plots(figs: Figures) -> str:
    parts = [f'<figure id="plot-{e(p.key)}"><img alt="{e(p.title)}" src="data:image/png;base64,{base64.b64encode(p.png).decode()}">'
             f"<figcaption><b>{e(p.title)}.</b> {e(p.caption)}</figcaption></figure>" for p in figs.plots]
    parts += [f'<p class="muted">{e(n)}</p>' for n in figs.notes]
    return '<section id="plots"><h2>Pictures</h2>' + "".join(parts) + "</section>" if parts else ""


def _privacy_table(privacy: Mapping[str, Any] | None) -> str:
    if not privacy:
        return ""
    target = privacy.get("target") or {}
    rows = "".join(f"<tr><td>{e(h.get('stage'))}</td><td>{e(format_number(h.get('epsilon')))}</td><td>{e(h.get('delta'))}</td>"
                   f"<td>{e(h.get('steps'))}</td><td>{e(format_number(h.get('noise_multiplier')))}</td><td>{e(h.get('accountant'))}</td></tr>"
                   for h in privacy.get("history") or [])
    return (f'<section id="privacy"><h2>Differential privacy</h2><p>Target epsilon {e(target.get("target_epsilon"))}, delta '
            f'{e(target.get("delta"))}, max grad norm {e(target.get("max_grad_norm"))}.</p><table><thead><tr><th>tree</th>'
            "<th>epsilon</th><th>delta</th><th>steps</th><th>noise multiplier</th><th>accountant</th></tr></thead><tbody>"
            + rows + "</tbody></table></section>")


def _checks(checks: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for c in checks:
        result, cls = ("ok", "ok") if c.get("ok") else ("MISSING", "missing") if c.get("incomplete") \
            else ("UNCHECKED", "missing") if c.get("unchecked") else ("FAILED", "no")
        row_class = "" if c.get("ok") else ' class="bad"'
        rows.append(f'<tr{row_class}><td>{e(c.get("name"))}</td><td class="{cls}">{result}</td>'
                    f'<td>{e(c.get("detail"))}</td></tr>')
    return ('<section id="checks"><h2>Checks</h2><table><thead><tr><th>check</th><th>result</th><th>detail</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></section>")


def _environment(data: Mapping[str, Any]) -> str:
    env = data.get("environment") or {}
    items = [(k, val) for k, val in env.items() if not isinstance(val, (dict, list))]
    timings = [(k, val) for k, val in (data.get("timings") or {}).items() if isinstance(val, (int, float))]
    parts = []
    if items:
        parts.append("<h2>Environment</h2><dl class=\"facts\">" + "".join(f"<dt>{e(k)}</dt><dd><code>{e(val)}</code></dd>" for k, val in items) + "</dl>")
    if timings:
        parts.append("<h2>Timings (seconds)</h2><dl class=\"facts\">" + "".join(f"<dt>{e(k)}</dt><dd>{val:.3f}</dd>" for k, val in timings) + "</dl>")
    return '<section id="environment">' + "".join(parts) + "</section>" if parts else ""


def _list(key: str, title: str, items: Iterable[Any], cls: str) -> str:
    items = list(items)
    if not items:
        return ""
    return f'<section id="{key}"><h2>{title}</h2><ul>' + "".join(f'<li class="{cls}">{e(x)}</li>' for x in items) + "</ul></section>"


def _link(url: str | None) -> str:
    return f' <a href="{e(url)}" rel="noopener noreferrer">explorer</a>' if url else ""


# ---------------------------------------------------------------------- which pictures

def _history(record: Record) -> list[dict[str, Any]]:
    """Per-epoch loss and accuracy for `plots.training_curves`, when every epoch tree has a loss:
    the first of `LOSS_KEYS` / `ACCURACY_KEYS` each holds (`loss`, Lightning's `train_loss`, HF's
    `eval_loss`; `val_acc`, `eval_accuracy`, ...), as the callbacks recorded them; accuracy None
    where none was recorded."""
    from ..record import ACCURACY_KEYS, LOSS_KEYS

    def number(m: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
        return next((m[k] for k in keys if isinstance(m.get(k), (int, float)) and not isinstance(m.get(k), bool)), None)

    rows = []
    for stage in record.stages:
        if not stage.name.startswith("epoch-"):
            continue
        m = stage.metrics
        loss, acc = number(m, LOSS_KEYS), number(m, ACCURACY_KEYS)
        if loss is None:
            return []
        epoch = m.get("epoch")
        rows.append({"epoch": epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else len(rows) + 1,
                     "loss": loss, "test_accuracy": acc})
    return rows


def _privacy(verification: VerificationReport) -> list[dict[str, Any]]:
    out = []
    for h in verification.privacy:
        name = str(h.get("stage", ""))
        if name.startswith("epoch-") and name[6:].isdigit() and isinstance(h.get("epsilon"), (int, float)):
            out.append({"epoch": int(name[6:]), "epsilon": h["epsilon"]})
    return out


def _tree_to_draw(record: Record, verification: VerificationReport) -> tuple[str, MerkleTree, Leaf, str] | None:
    """The tree and leaf to draw: the first changed leaf (as recorded) in its tree; else the final
    tree's model file (or its chain.prev link, or its first leaf)."""
    for change in verification.changes:
        if change.change == "unexpected":
            continue  # found, never recorded: not in the tree
        try:
            tree = record.stage(change.stage).tree()
            return change.stage, tree, tree.find(change.kind, change.name), f"The changed leaf {change.kind}:{change.name}."
        except ProvenanceError:
            continue
    last = record.last_stage
    if last is None or not last.leaves:
        return None
    try:
        tree = last.tree()
    except ProvenanceError:
        return None
    kinds = (MODEL_FILE, CHAIN_PREV)
    leaf = next((x for k in kinds for x in last.leaves if x.kind == k), last.leaves[0])
    return last.name, tree, leaf, f"The final tree {last.name!r}."
