"""A provenance run in MLflow: its roots, anchors and verification verdict as tags and params of an
MLflow run, and the record and reports as artifacts.

    from provenance.integrations.mlflow import log_run
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    log_run("artifacts/run-20261129-...")          # or a ProvenanceTracker; verify=True by default

What goes in (only what the public record already holds; never the config's values, keys or RPC
URLs):

- params: `provenance.run_id`, `provenance.canonicalization`, `provenance.merkle`,
  `provenance.dataset.source`, `provenance.stages` (names in chain order);
- tags `provenance.root.<stage>` (0x...), `provenance.final_root`;
- per anchor `provenance.anchor.<stage>.<network>.*`: `state`, and what locates it: Ethereum
  `chain_id`, `contract`, `tx`, `block`, `submitter`; IPFS `cid`; Bitcoin `chain`, `txid`, `vout`;
  plus `link`, a block explorer's page for that transaction where the network has a public one
  (Etherscan for chain ids 1, 11155111, 17000, 560048; mempool.space for Bitcoin main, test,
  testnet4 and signet) and none otherwise (local chains, regtest, IPFS);
- with `verify=True` (verification as a fresh process does it, reports written into the run
  folder): `provenance.verdict` (`PASSED`/`FAILED`), `provenance.checks`, `provenance.checks_failed`,
  `provenance.changed_leaves` (the first few, `kind:name in tree 'stage' changed`), and per anchor
  `...verified` (`true`/`false`) with the submitter read from the chain when the verdict gives it;
  `provenance.identity.<network>`: the identity the pre tree commits to, where it holds one;
- artifacts under `provenance/`: `record.json`, `report.json`, `report.md`, `report.html` (those present);
- metrics: every number each epoch tree commits to, at its epoch as the step (one `log_batch`),
  and with `verify=True` `provenance.verified` (1 PASSED, 0 otherwise); params: the run's
  training config (scalar values), each under its own name unless the run already has it.

The framework's run is the one logged into when there is one: `mlflow_run_id=`, else a
provenance callback's (`run` may be the Lightning or Hugging Face `ProvenanceCallback`: the run
of Lightning's `MLFlowLogger`, or the MLflow run active when HF training began), else the active run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import mlflow
from mlflow.tracking import MlflowClient

from ..files import HTML_FILE, REPORT_FILE, REPORT_MD_FILE
from ..anchors.registry import find
from ..errors import ProvenanceError
from ..record import Record
from ..training.tracker import RECORD_FILE, ProvenanceTracker
from ..verification.links import explorer_link

ARTIFACT_PATH = "provenance"
REPORT_FILES = (REPORT_FILE, REPORT_MD_FILE, HTML_FILE)
MAX_CHANGES = 5

def log_run(run: str | Path | ProvenanceTracker, *, verify: bool = True, mlflow_run_id: str | None = None,
            config: Mapping[str, Any] | str | Path | None = None) -> str:
    """Log a provenance run (its folder, or the tracker that made it) into MLflow; returns the MLflow
    run id. Logs into `mlflow_run_id`, else the active MLflow run, else a new run named after the
    provenance run. `config`: the provenance config used to verify a run given by its folder."""
    if hasattr(run, "tracker") and not isinstance(run, ProvenanceTracker):  # a framework callback
        mlflow_run_id = mlflow_run_id or getattr(run, "mlflow_run_id", None)
        run = run.tracker
    loaded = not isinstance(run, ProvenanceTracker)
    tracker = ProvenanceTracker.load(_run_dir(run), config) if loaded else run
    run_dir = tracker.run_dir
    report: dict[str, Any] | None = None
    try:
        if verify:
            report = tracker.verify_blockchain_provenance()
            tracker.save_blockchain_report()
    finally:
        if loaded:
            tracker.close()
    record = Record.load(run_dir / RECORD_FILE)
    params, tags = run_values(record, report)

    client = MlflowClient()
    active = mlflow.active_run()
    if mlflow_run_id is None and active is not None:
        mlflow_run_id = active.info.run_id
    started = mlflow_run_id is None
    if started:
        mlflow_run_id = mlflow.start_run(run_name=record.run_id).info.run_id
    try:
        for key, value in params.items():
            client.log_param(mlflow_run_id, key, value)
        for key, value in tags.items():
            client.set_tag(mlflow_run_id, key, value)
        _log_training(client, mlflow_run_id, record, report)
        for name in (RECORD_FILE, *REPORT_FILES):
            if (run_dir / name).is_file():
                client.log_artifact(mlflow_run_id, str(run_dir / name), ARTIFACT_PATH)
    finally:
        if started:
            mlflow.end_run()
    return mlflow_run_id


def _log_training(client: MlflowClient, run_id: str, record: Record, report: Mapping[str, Any] | None) -> None:
    """The committed metrics per epoch (one log_batch), `provenance.verified`, and the training
    params the MLflow run does not hold yet (a framework may have logged them already)."""
    import time

    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    metrics = [Metric(key, float(value), now, step) for step, values in epoch_metrics(record) for key, value in values.items()]
    if report is not None:
        metrics.append(Metric("provenance.verified", 1.0 if report.get("verdict", "PASSED" if report.get("ok") else "FAILED") == "PASSED"
                              else 0.0, now, 0))
    have = client.get_run(run_id).data.params
    params = [Param(k, v) for k, v in training_params(record).items() if k not in have]
    for i in range(0, max(len(metrics), len(params)), 100):  # MLflow's batch limit is 100 params per call
        client.log_batch(run_id, metrics=metrics[i:i + 100], params=params[i:i + 100])


def epoch_metrics(record: Record) -> list[tuple[int, dict[str, float]]]:
    """(epoch, {metric: value}) for each epoch tree, the numbers its metrics leaves commit to."""
    out = []
    for i, stage in enumerate(s for s in record.stages if s.name.startswith("epoch-")):
        step = stage.metrics.get("epoch")
        values = {k: v for k, v in stage.metrics.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "epoch" and _finite(v)}
        out.append((step if isinstance(step, int) and not isinstance(step, bool) else i + 1, values))
    return out


def training_params(record: Record) -> dict[str, str]:
    """The run's training config, scalar values only (nested ones flattened with dots)."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[prefix] = str(value)[:500]  # MLflow's param value limit

    walk("", record.config)
    return out


def _finite(value: float) -> bool:
    import math

    return math.isfinite(value)


def run_values(record: Record, report: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[str, str]]:
    """(params, tags) for a record and, if given, its verification report (see the module docstring)."""
    params = {
        "provenance.run_id": record.run_id,
        "provenance.canonicalization": record.canonicalization,
        "provenance.merkle": "provenance-merkle/v1",
        "provenance.dataset.source": str(record.artifacts.get("dataset", {}).get("source", "none")),
        "provenance.stages": ",".join(stage.name for stage in record.stages),
    }
    tags = {f"provenance.root.{stage.name}": "0x" + stage.root.hex() for stage in record.stages}
    if record.stages:
        for leaf in record.stages[0].leaves:
            if leaf.kind.startswith("identity."):  # who the pre tree says anchors this run
                tags[f"provenance.{leaf.kind}"] = leaf.name
    if record.last_stage is not None:
        tags["provenance.final_root"] = "0x" + record.last_stage.root.hex()
    for entry in record.receipts:
        receipt, prefix = entry.receipt, f"provenance.anchor.{entry.stage}.{entry.receipt.network}"
        tags[f"{prefix}.state"] = receipt.state.value
        spec = find(receipt.network)
        for key, name in (spec.receipt_fields if spec is not None else {}).items():
            if receipt.location.get(key) is not None:
                tags[f"{prefix}.{name}"] = str(receipt.location[key])
        link = explorer_link(receipt.network, receipt.location)
        if link:
            tags[f"{prefix}.link"] = link
    if report is not None:
        failed = [c for c in report.get("checks", []) if not c.get("ok")]
        tags["provenance.verdict"] = str(report.get("verdict") or ("PASSED" if report.get("ok") else "FAILED"))
        tags["provenance.checks"] = str(len(report.get("checks", [])))
        tags["provenance.checks_failed"] = str(len(failed))
        changes = [c.get("description", "") for c in report.get("changes", [])]
        if changes:
            tags["provenance.changed_leaves"] = "; ".join(changes[:MAX_CHANGES]) + (" ..." if len(changes) > MAX_CHANGES else "")
        for anchor in report.get("anchors", []):
            prefix = f"provenance.anchor.{anchor.get('stage')}.{anchor.get('network')}"
            tags[f"{prefix}.verified"] = "true" if anchor.get("ok") else "false"
            submitter = (anchor.get("facts") or {}).get("submitter")
            if submitter:
                tags[f"{prefix}.submitter"] = str(submitter)  # as read from the chain
    return params, tags


def _run_dir(run: str | Path) -> Path:
    path = Path(run)
    if not (path / RECORD_FILE).is_file():
        raise ProvenanceError(f"mlflow: expected a run folder holding {RECORD_FILE}, found none at {path}")
    return path

