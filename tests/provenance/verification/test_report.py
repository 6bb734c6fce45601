"""The reports of a run (report.json, report.md, report.html) from `provenance report`, on a real run
anchored on the local chain: the same facts in each (verdict, accuracy, dataset, git commit, roots,
anchors), a changed leaf named and highlighted, the HTML self-contained and inert whatever the run
folder holds, and the verdict CANNOT CHECK when the chain cannot be asked."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from provenance.merkle import MerkleTree, leaf_hash
from provenance.record import Record
from provenance.training.tracker import FINAL_MODEL_FILE
from provenance.verification import html as html_report
from provenance.verification import plots
from provenance.verification.links import explorer_link
from provenance.verification.report import headline, report_json
from provenance.verification.verify import VerificationReport

from tests.provenance.verification.reports import inject_markup, make_report
from tests.support.cli import cli
from tests.support.tamper import flip_tensor_byte

SCRIPT = "<script>alert(1)</script>"


class Tags(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def test_passed_run_reports_the_same_facts_in_json_markdown_and_html(run_copy):
    files = make_report(run_copy)
    data = json.loads((run_copy / "report.json").read_text())
    md = (run_copy / "report.md").read_text()
    page = (run_copy / "report.html").read_text()
    record = Record.load(run_copy / "record.json")
    assert files["files"]["html"] == str(run_copy / "report.html")

    assert data["verdict"] == "PASSED" == data["verification"]["verdict"]
    accuracy = record.stage("post").metrics["test_accuracy"]
    assert data["metrics"]["accuracy"] == accuracy
    assert data["metrics"]["loss"] == record.stage("epoch-1").metrics["loss"]
    commit = record.code["git"]["commit"]
    for text in (md, page):
        assert "PASSED" in text
        assert f"{accuracy:.4g}" in text
        assert "sklearn-digits: 1438 train, 359 test samples" in text
        assert commit in text
        for stage in record.stages:
            assert "0x" + stage.root.hex() in text
    # who anchored each tree and in which block, as the chain says
    anchors = data["verification"]["anchors"]
    assert len(anchors) == len(record.stages)
    for a in anchors:
        assert a["facts"]["submitter"] in md and a["facts"]["submitter"] in page
        assert f"| {a['facts']['block_number']} |" in md
        assert f"<td>{a['facts']['block_number']}</td>" in page
    assert all(a["link"] is None for a in data["anchors"])  # a local chain has no explorer: no link made up
    assert "explorer" not in re.sub(r"<p[^>]*>[^<]*explorer[^<]*</p>", "", page)


def test_html_is_self_contained(run_copy):
    make_report(run_copy)
    page = (run_copy / "report.html").read_text()
    tags = parse(page)
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object", "embed", "base")]
    images = [a for t, a in tags if t == "img"]
    assert len(images) == 3  # training curves, timeline, tree
    assert all(str(i["src"]).startswith("data:image/png;base64,") for i in images)
    assert "url(" not in page and "@import" not in page
    csp = [a for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in str(csp[0]["content"]) and "script-src" not in str(csp[0]["content"])


def test_changed_leaf_is_named_and_highlighted(run_copy):
    tensor = flip_tensor_byte(run_copy / FINAL_MODEL_FILE)
    make_report(run_copy, code=1)
    data = json.loads((run_copy / "report.json").read_text())
    md = (run_copy / "report.md").read_text()
    page = (run_copy / "report.html").read_text()
    assert data["verdict"] == "FAILED"
    assert f"**model.param:{tensor} in tree 'post' changed**" in md
    rows = re.findall(r'<tr class="changed">(.*?)</tr>', page)
    assert any(f'<td class="changed-leaf">model.param:{tensor}</td><td>post</td><td>changed</td>' in r for r in rows)
    assert any(f"changed: model.param:{tensor}" in r for r in rows)  # and its tree's row in the trees table
    first = data["verification"]["changes"][0]
    assert f"path from {first['kind']}:{first['name']} to the root" in page  # the tree drawn is the changed leaf's


def test_markup_in_the_run_folder_is_shown_as_text(run_copy):
    """The run folder is the attacker's: a metric name, a git branch and an environment field
    holding markup reach the page as text, never as elements."""
    inject_markup(run_copy, SCRIPT)
    make_report(run_copy, code=1)
    page = (run_copy / "report.html").read_text()
    md = (run_copy / "report.md").read_text()
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert not [t for t, a in parse(page) if t == "script" or "onerror" in a]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the metric name, shown as text
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page  # the branch, shown as text
    assert "<script" not in md.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in md


def test_renderer_escapes_every_field_it_is_given():
    """`render` on its own, with markup in fields a loaded record could never hold (a run id)."""
    v = VerificationReport(SCRIPT)
    v.add(SCRIPT, False, SCRIPT)
    data = {"format": "provenance-report/v1", "run_id": SCRIPT, "canonicalization": SCRIPT,
            "metrics": {"accuracy": SCRIPT, "loss": None, "final": {SCRIPT: 1.0}, "epochs": [{"stage": SCRIPT, SCRIPT: 0.5}]},
            "trees": [{"stage": SCRIPT, "root": SCRIPT, "prev": SCRIPT, "created_at": SCRIPT, "leaves": {SCRIPT: 1}}],
            "anchors": [{"stage": SCRIPT, "network": SCRIPT, "state": SCRIPT, "location": {"tx_hash": SCRIPT},
                         "reason": SCRIPT, "updated_at": SCRIPT, "link": None, "checked": None}],
            "dataset": {"source": SCRIPT}, "code": {"git": {"commit": SCRIPT, "branch": SCRIPT}},
            "environment": {SCRIPT: SCRIPT}, "verification": v.to_json(), "privacy": None, "timings": {SCRIPT: 1.0}}
    page = html_report.render(data)
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;") >= 15
    assert [t for t, _ in parse(page)].count("script") == 0


def test_cannot_check_when_the_chain_cannot_be_asked(run_copy, tmp_path):
    config = tmp_path / "dead-rpc.json"
    config.write_text(json.dumps({"blockchain": {"ethereum": {"network": "http://127.0.0.1:9"}}}))
    for name in ("report.json", "report.md", "report.html"):
        (run_copy / name).unlink(missing_ok=True)  # no saved finding: this report is the first
    files = make_report(run_copy, "--config", str(config), code=3)
    data = json.loads((run_copy / "report.json").read_text())
    assert files["verdict"] == data["verdict"] == "CANNOT CHECK"
    assert data["verification"]["verdict"] == "CANNOT CHECK"  # one scale: the verifier says it too, exit 3
    assert data["verification"]["unchecked"] and not data["verification"]["missing"]
    assert all(a["checked"]["status"] == "cannot check" for a in data["anchors"])
    page = (run_copy / "report.html").read_text()
    assert 'class="verdict cannot-check"' in page and ">CANNOT CHECK<" in page


def test_verify_with_the_chain_down_is_cannot_check_not_failed(run_copy, tmp_path):
    config = tmp_path / "dead-rpc.json"
    config.write_text(json.dumps({"blockchain": {"ethereum": {"network": "http://127.0.0.1:9"}}}))
    done = cli("verify", str(run_copy), "--config", str(config))
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr
    assert "verification CANNOT CHECK" in done.stdout and "FAILED " not in done.stdout
    assert "run verify again when ethereum can be reached" in done.stdout


def test_cannot_check_never_replaces_a_saved_passed(run_copy, tmp_path):
    """The chain down after a PASSED report: exit 3, the saved report stays, `runs` still shows PASSED."""
    make_report(run_copy, code=0)
    saved = (run_copy / "report.json").read_bytes()
    config = tmp_path / "dead-rpc.json"
    config.write_text(json.dumps({"blockchain": {"ethereum": {"network": "http://127.0.0.1:9"}}}))
    files = make_report(run_copy, "--config", str(config), code=3)
    assert files["verdict"] == "CANNOT CHECK" and files["kept_saved_verdict"] == "PASSED"
    assert (run_copy / "report.json").read_bytes() == saved
    listing = cli("runs", "--base-dir", str(run_copy.parent), "--json")
    assert [r["verdict"] for r in json.loads(listing.stdout)] == ["PASSED"], listing.stderr


def test_headline_reads_cannot_check_only_when_nothing_else_failed():
    unasked = {"stage": "pre", "network": "ethereum", "status": "cannot check"}
    base = {"verdict": "FAILED", "changes": [], "anchors": [unasked],
            "checks": [{"name": "anchor pre ethereum", "ok": False, "incomplete": False},
                       {"name": "final root anchored", "ok": False, "incomplete": True}]}
    assert headline(base) == "CANNOT CHECK"
    assert headline(base | {"checks": base["checks"] + [{"name": "tree pre", "ok": False, "incomplete": False}]}) == "FAILED"
    assert headline(base | {"changes": [{"stage": "post"}]}) == "FAILED"
    assert headline(base | {"anchors": [unasked | {"status": "failed"}]}) == "FAILED"
    assert headline({"verdict": "INCOMPLETE", "checks": [], "anchors": [], "changes": []}) == "INCOMPLETE"


def test_explorer_links_are_built_only_from_well_formed_ids():
    tx = "0x" + "ab" * 32
    assert explorer_link("ethereum", {"chain_id": 1, "tx_hash": tx}) == f"https://etherscan.io/tx/{tx}"
    assert explorer_link("ethereum", {"chain_id": "1", "tx_hash": tx + '"><script>'}) is None
    assert explorer_link("ethereum", {"chain_id": 1, "tx_hash": "../../evil"}) is None
    assert explorer_link("ethereum", {"chain_id": True, "tx_hash": tx}) is None
    assert explorer_link("bitcoin", {"chain": "signet", "txid": "ef" * 32}) == "https://mempool.space/signet/tx/" + "ef" * 32
    assert explorer_link("bitcoin", {"chain": "main", "txid": "ef" * 31}) is None


def test_report_json_keeps_its_earlier_fields(trained_run):
    """Readers of report v1 (scripts, `provenance runs`) keep finding what they read before."""
    record = Record.load(trained_run.run_dir / "record.json")
    data = report_json(record, VerificationReport(record.run_id))
    assert {"format", "run_id", "canonicalization", "trees", "anchors", "dataset", "code", "environment", "verification",
            "privacy", "timings"} <= data.keys()
    assert data["format"] == "provenance-report/v1"
    assert all({"stage", "network", "root", "state", "location"} <= a.keys() for a in data["anchors"])


def test_proof_path_draws_the_trees_own_proof(trained_run):
    import matplotlib.pyplot as plt

    tree: MerkleTree = Record.load(trained_run.run_dir / "record.json").stage("pre").tree()
    leaf = tree.find("data.sample", "train/000123")
    fig = plots.proof_path(tree, leaf)
    texts = [t.get_text() for t in fig.axes[0].texts]
    proof = tree.proof(leaf)
    assert [t for t in texts if t.startswith("proof[")] == [f"proof[{i}] {plots._short(h)}" for i, h in enumerate(proof)]
    assert f"data.sample:train/000123  {plots._short(leaf_hash(leaf))}" in texts
    assert f"root {plots._short(tree.root)}" in texts
    plt.close(fig)
