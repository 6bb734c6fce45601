"""MLflow on a real local tracking store (sqlite, in tmp_path): a Lightning fit with
`log_to_mlflow=True` puts its roots, anchors and verdict into an MLflow run, read back through
`MlflowClient`; a tampered run logged again says FAILED and names the leaf."""

from __future__ import annotations

import json

import lightning as L
import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from provenance.digests import datasets
from provenance.integrations.lightning import ProvenanceCallback
from provenance.integrations.mlflow import explorer_link, log_run

from tests.support.tamper import flip_tensor_byte
from .test_lightning import DigitsNet, loaders


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """An MLflow tracking store of its own (sqlite + an artifact folder), current for the test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.create_experiment("provenance", artifact_location=(tmp_path / "mlartifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    yield client
    mlflow.set_tracking_uri(None)


def test_fit_logged_to_mlflow_with_roots_anchors_and_verdict(tmp_path, tracking):
    descriptor = datasets.digits_descriptor()
    train, test = loaders(descriptor)
    torch.manual_seed(0)
    callback = ProvenanceCallback(tmp_path / "runs", data_source=descriptor, run_id="mlflow-run", log_to_mlflow=True)
    L.Trainer(max_epochs=1, limit_train_batches=2, num_sanity_val_steps=0, accelerator="cpu", callbacks=[callback], logger=False,
              enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False).fit(DigitsNet(), train, test)

    record = callback.tracker.record
    run = tracking.get_run(callback.mlflow_run_id)
    tags, params = run.data.tags, run.data.params
    assert run.info.run_name == "mlflow-run" and run.info.status == "FINISHED"
    assert params["provenance.run_id"] == "mlflow-run" and params["provenance.stages"] == "pre,epoch-1,post"
    assert params["provenance.dataset.source"] == "sklearn-digits"
    for stage in record.stages:
        assert tags[f"provenance.root.{stage.name}"] == "0x" + stage.root.hex()
        receipt = record.receipts_for(stage.name)["ethereum"]
        prefix = f"provenance.anchor.{stage.name}.ethereum"
        assert tags[f"{prefix}.state"] == "confirmed" and tags[f"{prefix}.verified"] == "true"
        assert tags[f"{prefix}.tx"] == receipt.location["tx_hash"]
        assert tags[f"{prefix}.chain_id"] == str(receipt.location["chain_id"]) == "31337"
        assert tags[f"{prefix}.submitter"] == receipt.location["submitter"] == tags["provenance.identity.ethereum"]
        assert f"{prefix}.link" not in tags  # a local chain has no explorer; none is made up
    assert tags["provenance.final_root"] == "0x" + record.stage("post").root.hex()
    assert tags["provenance.verdict"] == "PASSED" and tags["provenance.checks_failed"] == "0"
    assert run.data.metrics["provenance.verified"] == 1.0
    assert [(m.step, m.value) for m in tracking.get_metric_history(run.info.run_id, "train_loss")] == \
        [(1, record.stage("epoch-1").metrics["train_loss"])]  # the committed value, at its epoch
    assert params["lr"] == "0.1" and params["trainer.max_epochs"] == "1"  # the training params
    artifacts = {a.path for a in tracking.list_artifacts(run.info.run_id, "provenance")}
    assert {"provenance/record.json", "provenance/report.json", "provenance/report.md", "provenance/report.html"} <= artifacts
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="provenance/record.json",
                                                dst_path=str(tmp_path / "back"))
    assert json.loads(open(local).read())["run_id"] == "mlflow-run"

    tensor = flip_tensor_byte(callback.run_dir / "model.safetensors")
    failed = tracking.get_run(log_run(callback.run_dir)).data.tags
    assert failed["provenance.verdict"] == "FAILED"
    assert tracking.get_run(log_run(callback.run_dir)).data.metrics["provenance.verified"] == 0.0
    assert f"model.param:{tensor} in tree 'post' changed" in failed["provenance.changed_leaves"]
    assert failed["provenance.anchor.post.ethereum.verified"] == "true"  # the anchor holds; the file does not


def test_logged_into_the_mlflow_loggers_own_run(tmp_path, tracking):
    """With Lightning's MLFlowLogger, one MLflow run holds the framework's metrics and provenance's."""
    from lightning.pytorch.loggers import MLFlowLogger

    train, test = loaders(datasets.digits_descriptor())
    logger = MLFlowLogger(experiment_name="provenance", tracking_uri=mlflow.get_tracking_uri())
    callback = ProvenanceCallback(tmp_path / "runs", data_source=datasets.digits_descriptor(), run_id="one-run", log_to_mlflow=True)
    L.Trainer(max_epochs=1, limit_train_batches=2, num_sanity_val_steps=0, accelerator="cpu", callbacks=[callback], logger=logger,
              enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False).fit(DigitsNet(), train, test)
    assert callback.mlflow_run_id == logger.run_id
    run = tracking.get_run(logger.run_id)
    assert run.data.tags["provenance.verdict"] == "PASSED" and "val_acc" in run.data.metrics


def test_explorer_links_only_where_a_public_explorer_exists():
    tx = "0x" + "ab" * 32
    assert explorer_link("ethereum", {"chain_id": 1, "tx_hash": tx}) == f"https://etherscan.io/tx/{tx}"
    assert explorer_link("ethereum", {"chain_id": 11155111, "tx_hash": tx}) == f"https://sepolia.etherscan.io/tx/{tx}"
    assert explorer_link("ethereum", {"chain_id": 31337, "tx_hash": tx}) is None
    assert explorer_link("ethereum", {"chain_id": 1}) is None  # no transaction, no link
    assert explorer_link("bitcoin", {"chain": "main", "txid": "cd" * 32}) == "https://mempool.space/tx/" + "cd" * 32
    assert explorer_link("bitcoin", {"chain": "regtest", "txid": "cd" * 32}) is None
    assert explorer_link("ipfs", {"cid": "bafkrei..."}) is None
