"""`verify-export`: an exported statement or BOM held against the run it claims to describe.

An export is a set of claims (model digests, dataset roots, the code's commit, anchors with their
transactions). With the run folder, the export is made again from the run (which re-hashes the
model files against their anchored leaves) and compared claim by claim, each difference named by
its path (a changed digest, a removed or added anchor); the run itself is verified as `verify`
does (every anchor on its network, the record's snapshots, who anchored and when). Without the run
folder, each anchor the export claims is looked up on its network, and the digests that only the
run can confirm are CANNOT CHECK. A DSSE envelope's signature is checked with `--public-key`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FormatError, ProvenanceError
from ..files import parse_json, read_file
from ..record.receipts import AnchorState, Receipt, Status
from . import document
from .dsse import is_envelope, payload_of, verify_envelope
from .slsa import MERKLE_ROOT

_MAX_EXPORT = 64 << 20
# Not claims about the run: the version of the tool that wrote the BOM (a newer one may check it).
_NOT_CLAIMS = ("metadata.tools",)
_SHOWN = 80
PASSED, FAILED, INCOMPLETE, CANNOT_CHECK = "PASSED", "FAILED", "INCOMPLETE", "CANNOT CHECK"


@dataclass(frozen=True)
class ExportCheck:
    name: str
    status: str  # ok, failed, missing, cannot check
    detail: str


@dataclass
class ExportReport:
    file: str
    kind: str = ""
    checks: list[ExportCheck] = field(default_factory=list)

    def add(self, name: str, status: str, detail: str) -> None:
        self.checks.append(ExportCheck(name, status, detail))

    @property
    def verdict(self) -> str:
        statuses = {c.status for c in self.checks}
        if not self.checks or "failed" in statuses:
            return FAILED
        return INCOMPLETE if "missing" in statuses else CANNOT_CHECK if "cannot check" in statuses else PASSED

    def to_json(self) -> dict[str, Any]:
        return {"format": "provenance-export-verification/v1", "file": self.file, "kind": self.kind,
                "verdict": self.verdict, "checks": [asdict(c) for c in self.checks]}


def load_export(path: Path) -> tuple[str, Any, Any]:
    """(kind, document, envelope or None) of the export at `path`: `slsa` (a statement, bare or in a
    DSSE envelope) or `cyclonedx`."""
    data = read_file(path, "export file", limit=_MAX_EXPORT)  # a regular file: a FIFO or a device never hangs
    if len(data) > _MAX_EXPORT:
        raise FormatError(f"{path}: expected an export under {_MAX_EXPORT >> 20} MiB, found a larger file")
    value = parse_json(data, f"export {path} (in-toto statement, DSSE envelope or CycloneDX BOM)", max_bytes=_MAX_EXPORT)
    envelope = value if is_envelope(value) else None
    if envelope is not None:
        value = payload_of(envelope)
    if isinstance(value, dict) and value.get("_type") == "https://in-toto.io/Statement/v1":
        return "slsa", value, envelope
    if isinstance(value, dict) and value.get("bomFormat") == "CycloneDX":
        return "cyclonedx", value, envelope
    raise FormatError(f"{path}: expected an in-toto Statement v1, a DSSE envelope of one, or a CycloneDX BOM, found none of them")


def verify_export(path: Path, run_dir: Path | None = None, *, public_key: Path | None = None, anchors: Any = None,
                  config: Any = None, submitters: tuple[str, ...] = ()) -> ExportReport:
    """Check every digest and anchor the export at `path` claims (see the module's docstring)."""
    kind, claimed, envelope = load_export(Path(path))
    report = ExportReport(str(path), kind)
    if envelope is not None:
        if public_key is None:
            report.add("envelope signature", "cannot check", "a DSSE envelope: give --public-key PEM to check who signed it")
        else:
            try:
                report.add("envelope signature", "ok", f"signed by key {verify_envelope(envelope, public_key)[:16]}…")
            except FormatError as e:
                report.add("envelope signature", "failed", str(e))
    if anchors is None:
        from ..anchoring import Anchors
        from ..config import load_settings

        anchors = Anchors(load_settings(config), read_only=True)
    if run_dir is None:
        _check_on_networks(kind, claimed, anchors, submitters, report)
    else:
        _check_against_run(kind, claimed, Path(run_dir), anchors, submitters, report)
    return report


def _check_against_run(kind: str, claimed: Any, run_dir: Path, anchors: Any, submitters: tuple[str, ...],
                       report: ExportReport) -> None:
    from ..verification.facts import headline
    from ..verification.verify import verify_run

    try:
        expected = document(run_dir, kind)
    except ProvenanceError as e:
        report.add("run", "failed", f"the run cannot back the export: {e}")
        return
    differences = diff(claimed, expected)
    for where, detail in differences:
        report.add(f"claim {where}", "failed", detail)
    if not differences:
        report.add("claims", "ok", f"every digest, root and anchor the export claims is the run's ({_count(expected)} values compared)")
    verification = verify_run(run_dir, anchors=anchors, submitters=submitters)
    verdict = headline(verification.to_json())
    failed = [f"{c.name}: {c.detail}" for c in verification.checks if not c.ok]
    status = {"PASSED": "ok", "INCOMPLETE": "missing", CANNOT_CHECK: "cannot check"}.get(verdict, "failed")
    report.add("run verification", status, f"{verdict}: {len(verification.checks)} checks, {len(verification.anchors)} anchors checked"
               + (f"; {'; '.join(failed[:5])}" if failed else "")
               + "".join(f"; {c.describe()}" for c in verification.changes[:5]))


def _check_on_networks(kind: str, claimed: Any, anchors: Any, submitters: tuple[str, ...], report: ExportReport) -> None:
    """Each claimed anchor looked up on its network (the backend compares every location field the
    claim gives with what the network says); the Ethereum anchors made by one submitter, and by a
    trusted one where the verifier names any (`--submitter`, the config's trusted submitters)."""
    from ..verification.verify import trusted_addresses

    trusted = trusted_addresses(list(submitters) + list(anchors.section("ethereum").trusted_submitters))
    claims = claimed_anchors(kind, claimed)
    if not claims:
        report.add("anchors", "failed", "the export claims no anchor: nothing ties it to a time or a submitter")
    who: dict[str, str] = {}
    for key, (root, where) in sorted(claims.items()):
        network = key.rsplit("/", 1)[-1]
        try:
            receipt = Receipt(network, bytes.fromhex(root.removeprefix("0x")), AnchorState.CONFIRMED, where)
            verdict = anchors.verify(receipt)
        except (ProvenanceError, ValueError) as e:
            report.add(f"anchor {key}", "failed", f"cannot be looked up as claimed: {e}")
            continue
        if verdict.status is Status.CANNOT_CHECK:
            report.add(f"anchor {key}", "cannot check", verdict.detail)
            continue
        report.add(f"anchor {key}", "ok" if verdict.ok else "failed", verdict.detail)
        if verdict.ok and network == "ethereum" and isinstance(verdict.facts.get("submitter"), str):
            who[key] = verdict.facts["submitter"]
    if len({address.lower() for address in who.values()}) > 1:
        report.add("submitter", "failed", "the Ethereum anchors were made by different accounts: "
                   + ", ".join(f"{key} by {address}" for key, address in sorted(who.items())))
    elif who:
        address = next(iter(who.values()))
        if trusted and address.lower() not in {t.lower() for t in trusted}:
            report.add("submitter", "failed", f"anchored by {address}, not by a trusted submitter ({', '.join(trusted)})")
        else:
            report.add("submitter", "ok", f"every Ethereum anchor by {address}"
                       + (" (trusted)" if trusted else " (no trust list given: --submitter names whom you trust)"))
    report.add("digests", "cannot check", "the model, dataset and code digests are the run's to confirm: give the run folder (RUN)")


def claimed_anchors(kind: str, claimed: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """`stage/network` -> (root hex, location) for every anchor the export claims."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    try:
        if kind == "slsa":
            for item in claimed["predicate"]["runDetails"].get("byproducts", []):
                name = str(item.get("name", ""))
                if name.startswith("anchor/"):
                    where = {k: v for k, v in item.get("annotations", {}).items() if k not in ("stage", "network")}
                    out[name.removeprefix("anchor/")] = (str(item["digest"][MERKLE_ROOT]), where)
        else:
            for prop in claimed["metadata"].get("properties", []):
                name = str(prop.get("name", "")).removeprefix("ml-provenance:")
                if name.startswith("anchor/"):
                    value = json.loads(prop["value"])
                    out[name.removeprefix("anchor/")] = (str(value.pop("root")), value)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise FormatError(f"export: expected its anchors in the documented places, found {type(e).__name__}: {str(e)[:_SHOWN]}") from None
    return out


def diff(claimed: Any, expected: Any, where: str = "") -> list[tuple[str, str]]:
    """Every place where the export (`claimed`) differs from the run's own export, by path; list
    items are matched by their name (or bom-ref) so a removed anchor is named, not an index shift."""
    if isinstance(claimed, dict) and isinstance(expected, dict):
        out = []
        for key in list(expected) + [k for k in claimed if k not in expected]:
            path = f"{where}{key}" if str(key).startswith("[") else f"{where}.{key}" if where else str(key)
            if path in _NOT_CLAIMS:
                continue
            if key not in claimed:
                out.append((path, f"the run has it ({_show(expected[key])}), the export lacks it"))
            elif key not in expected:
                out.append((path, f"the export claims it ({_show(claimed[key])}), the run has none"))
            else:
                out.extend(diff(claimed[key], expected[key], path))
        return out
    if isinstance(claimed, list) and isinstance(expected, list):
        a, b = _keyed(claimed), _keyed(expected)
        if a is not None and b is not None:
            return diff(a, b, where)
        if len(claimed) != len(expected):
            return [(where, f"the export has {len(claimed)} entries, the run {len(expected)}")]
        return [d for i, (x, y) in enumerate(zip(claimed, expected)) for d in diff(x, y, f"{where}[{i}]")]
    if claimed != expected or type(claimed) is not type(expected):
        return [(where, f"the export says {_show(claimed)}, the run gives {_show(expected)}")]
    return []


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    keys = []
    for item in items:
        if not isinstance(item, dict):
            return None
        key = (item.get("bom-ref") or item.get("name") or item.get("alg") or item.get("ref")
               or (f"{item.get('type')}:{item.get('url')}" if "url" in item else item.get("type")))
        if not isinstance(key, str):
            return None
        keys.append(f"[{key}]")
    if len(set(keys)) != len(keys):
        return None
    return dict(zip(keys, items))


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _count(value: Any) -> int:
    if isinstance(value, Mapping):
        return sum(_count(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count(v) for v in value)
    return 1
