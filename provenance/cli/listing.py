"""`provenance runs`: one row per run folder under the runs folder, newest first.

A listing reads each run's `record.json` (and `report.json` for the last saved verdict) and
nothing else: it never hashes artifacts and never asks a network, so a row's verdict is what the
run's last report said (`provenance verify RUN` checks it again). The run folder is untrusted:
a folder that is not a run, or a record that does not parse, is a row with the error, never a
crash of the whole listing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, ProvenanceError
from ..anchors.registry import find
from ..files import REPORT_FILE, read_json
from ..record import ACCURACY_KEYS, FORMAT, FORMAT_V1
from .common import RECORD_FILE, base_dir_option, emit, json_option

NOT_VERIFIED = "not verified"


def short_network(network: str) -> str:
    """The name listings print for a network (its spec's `short`: `eth`), else its name."""
    spec = find(network)
    return (spec.short if spec is not None else "") or network


def short_root(root: str) -> str:
    """`0x1234abcd...ef01`: enough of a root to tell runs apart on a screen."""
    return root if len(root) <= 18 else f"{root[:10]}...{root[-4:]}"


@dataclass(frozen=True)
class NetworkAnchors:
    """How one network's anchors of a run's stages stand: `confirmed` of `stages`, by state."""

    confirmed: int
    stages: int
    states: dict[str, int]

    def describe(self, network: str) -> str:
        others = ", ".join(f"{n} {state}" for state, n in sorted(self.states.items()) if state != "confirmed")
        return f"{self.confirmed}/{self.stages} {short_network(network)}" + (f" ({others})" if others else "")


@dataclass(frozen=True)
class RunRow:
    """One row of the listing. `error` is set (and most facts None) when the folder is not a
    readable run."""

    id: str  # the folder's name: what `provenance verify ID` takes
    path: str
    run_id: str | None = None  # the record's own run id (the folder's name unless it was renamed)
    date: str | None = None
    dataset: str | None = None
    accuracy: float | None = None
    stages: list[str] = field(default_factory=list)
    anchors: dict[str, NetworkAnchors] = field(default_factory=dict)
    verdict: str = NOT_VERIFIED
    verdict_saved_at: str | None = None  # when report.json was written (its mtime, UTC)
    verdict_current: bool | None = None  # False: the report is about other trees than the record's
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def list_runs(base_dir: Path) -> list[RunRow]:
    """A row per folder under `base_dir` (hidden ones and plain files left out), newest first."""
    if not base_dir.is_dir():
        found = "a file" if base_dir.exists() else "nothing"
        raise ConfigError(f"--base-dir: expected a folder of run folders, found {found} at {base_dir}")
    rows = [(read_row(folder), folder) for folder in base_dir.iterdir() if folder.is_dir() and not folder.name.startswith(".")]
    return [row for row, _ in sorted(rows, key=lambda r: _sort_key(*r), reverse=True)]


def read_row(folder: Path) -> RunRow:
    """The row of one folder; what keeps it from being read goes into the row's `error`."""
    try:
        return _read_row(folder)
    except ProvenanceError as e:
        return RunRow(folder.name, str(folder), error=str(e))
    except OSError as e:
        return RunRow(folder.name, str(folder), error=f"expected a readable run folder, found: {(e.strerror or type(e).__name__).lower()}")
    except (ValueError, TypeError, KeyError, AttributeError) as e:  # a record.json of another shape
        return RunRow(folder.name, str(folder), error=f"{RECORD_FILE}: expected a provenance record, found another shape ({type(e).__name__}: {e})")


def _read_row(folder: Path) -> RunRow:
    record_path = folder / RECORD_FILE
    if not record_path.exists():
        return RunRow(folder.name, str(folder), error=f"expected a run folder with {RECORD_FILE}, found none")
    data = read_json(record_path, "record", within=folder)
    if not isinstance(data, dict) or data.get("format") not in (FORMAT, FORMAT_V1):
        found = repr(data.get("format")) if isinstance(data, dict) else type(data).__name__
        return RunRow(folder.name, str(folder), error=f"{RECORD_FILE}: expected format {FORMAT!r} or {FORMAT_V1!r}, found {found}")
    stages = [(str(s["name"]), str(s["root"]), s.get("metrics") or {}, str(s.get("created_at") or "")) for s in data["stages"]]
    names = [name for name, *_ in stages]
    verdict, saved_at, current = _saved_verdict(folder, [(name, root) for name, root, *_ in stages])
    return RunRow(
        id=folder.name,
        path=str(folder),
        run_id=str(data["run_id"]),
        date=stages[0][3] if stages and stages[0][3] else _mtime(record_path),
        dataset=_dataset(data.get("artifacts", {}).get("dataset")),
        accuracy=_accuracy([metrics for _, _, metrics, _ in stages]),
        stages=names,
        anchors=_anchors(names, data["receipts"]),
        verdict=verdict,
        verdict_saved_at=saved_at,
        verdict_current=current,
    )


def _saved_verdict(folder: Path, trees: list[tuple[str, str]]) -> tuple[str, str | None, bool | None]:
    """The verdict of the run's last saved report, when it was saved, and whether it was about
    the trees the record holds now."""
    path = folder / REPORT_FILE
    if not path.exists():
        return NOT_VERIFIED, None, None
    report = read_json(path, "report", within=folder)
    verification = report.get("verification") if isinstance(report, dict) else None
    if not isinstance(verification, dict) or not isinstance(verification.get("ok"), bool):
        raise ConfigError(f"{REPORT_FILE}: expected a provenance report with a verification, found another shape")
    # the report's headline (CANNOT CHECK included), as report.md and report.html show it
    verdict = str(report.get("verdict") or verification.get("verdict") or ("PASSED" if verification["ok"] else "FAILED"))
    reported = [(t.get("stage"), t.get("root")) for t in report.get("trees", []) if isinstance(t, dict)]
    return verdict, _mtime(path), reported == trees


def _anchors(stages: list[str], receipts: list[dict[str, Any]]) -> dict[str, NetworkAnchors]:
    states: dict[str, dict[str, str]] = {}  # network -> stage -> state
    for receipt in receipts:
        states.setdefault(str(receipt["network"]), {})[str(receipt["stage"])] = str(receipt["state"])
    out = {}
    for network, by_stage in sorted(states.items()):
        counts: dict[str, int] = {}
        for stage in stages:
            state = by_stage.get(stage, "none")
            counts[state] = counts.get(state, 0) + 1
        out[network] = NetworkAnchors(counts.get("confirmed", 0), len(stages), counts)
    return out


def _dataset(descriptor: Any) -> str | None:
    if not isinstance(descriptor, dict) or not descriptor.get("source"):
        return None
    shown = str(descriptor["source"])
    if descriptor.get("path"):
        shown += f":{Path(str(descriptor['path'])).name}"
    counts = [descriptor.get(k) for k in ("train_samples", "test_samples")]
    if all(isinstance(c, int) for c in counts):
        shown += f" ({counts[0]}+{counts[1]})"
    return shown


def _accuracy(metrics: list[dict[str, Any]]) -> float | None:
    """The accuracy of the last stage that has one (post, else the latest epoch)."""
    for stage_metrics in reversed(metrics):
        for key in ACCURACY_KEYS:
            value = stage_metrics.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return None


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


def _sort_key(row: RunRow, folder: Path) -> str:
    if row.date:
        try:
            return datetime.fromisoformat(row.date).astimezone(timezone.utc).isoformat()
        except ValueError:
            pass
    try:
        return _mtime(folder)
    except OSError:
        return ""


def compress_stages(names: list[str]) -> str:
    """`pre, epoch-1..3, post` for a run's stage names."""
    epochs = [n for n in names if n.startswith("epoch-")]
    if len(epochs) > 2 and names.index(epochs[-1]) - names.index(epochs[0]) == len(epochs) - 1:
        first = names.index(epochs[0])
        names = names[:first] + [f"{epochs[0]}..{epochs[-1].removeprefix('epoch-')}"] + names[first + len(epochs):]
    return ", ".join(names)


def render(rows: list[RunRow], base_dir: Path) -> str:
    """The listing as a table for people."""
    if not rows:
        return f"no runs under {base_dir}"
    header = ("RUN", "DATE (UTC)", "DATASET", "ACCURACY", "STAGES", "ANCHORS", "VERDICT (SAVED)")
    table: list[tuple[str, ...]] = [header]
    for row in rows:
        if row.error is not None:
            table.append((row.id, f"error: {row.error}"))  # one wide cell: the columns do not apply
            continue
        verdict = row.verdict + (" (older trees)" if row.verdict_current is False else "")
        table.append((
            row.id,
            _short_date(row.date),
            row.dataset or "-",
            f"{row.accuracy:.3f}" if row.accuracy is not None else "-",
            compress_stages(row.stages) or "-",
            ", ".join(a.describe(n) for n, a in row.anchors.items()) or "not anchored",
            verdict,
        ))
    widths = [max(len(line[i]) for line in table if len(line) == len(header) or i == 0) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in table]
    lines.append("verdicts are those of each run's last saved report; `provenance verify RUN` checks again")
    return "\n".join(lines)


def _short_date(date: str | None) -> str:
    if not date:
        return "-"
    try:
        return datetime.fromisoformat(date).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return date


@click.command("runs")
@base_dir_option
@json_option
def runs_command(base_dir: Path, as_json: bool) -> None:
    """The runs under --base-dir, newest first: date, dataset, accuracy, stages, anchors and the
    verdict of each run's last saved report (nothing is re-verified: use `provenance verify`).

    A folder that is not a readable run is listed with its error."""
    rows = list_runs(base_dir)
    emit(as_json, [row.to_json() for row in rows], lambda: render(rows, base_dir))

