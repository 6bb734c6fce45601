"""`provenance train | verify | anchor | status | report`: whole runs."""

from __future__ import annotations

import sys
from typing import Any, Callable

import click

from ..training.tracker import ProvenanceTracker
from ..verification.verify import verify_run
from .common import base_dir_option, config_option, emit, json_option, resolve_run
from .shards import open_engine, shard_options


def training_options(f: Callable) -> Callable:
    """The options of `provenance train`, shared with the distributed launcher."""
    options = [
        click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--mnist-dir", type=click.Path(exists=True, file_okay=False), default=None,
                     help="Train on MNIST from the four IDX files in this folder (default: scikit-learn's bundled digits)."),
        click.option("--run-id", default=None, help="Name of the run folder (default: generated)."),
        click.option("--dp", is_flag=True, help="Train with differential privacy (DP-SGD, Opacus, Poisson sampling); "
                     "the epsilon spent after each epoch goes into that epoch's tree."),
        click.option("--target-epsilon", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="With --dp: the privacy budget for the whole run  [default: 3.0]"),
        click.option("--delta", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=None,
                     help="With --dp: the DP delta  [default: 1e-5]"),
        click.option("--max-grad-norm", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="With --dp: per-sample gradient clipping norm  [default: 1.0]"),
        click.option("--accountant", type=click.Choice(["prv", "rdp", "gdp"]), default=None,
                     help="With --dp: Opacus's privacy accountant  [default: prv]"),
        base_dir_option,
        config_option,
        json_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def options_from(params: dict[str, Any], **extra: Any) -> Any:
    """TrainOptions from the parsed `training_options` (plus `extra` fields)."""
    from ..training import TrainOptions

    dp_values = {k: params[k] for k in ("target_epsilon", "delta", "max_grad_norm", "accountant") if params[k] is not None}
    if dp_values and not params["dp"]:
        names = ", ".join("--" + k.replace("_", "-") for k in dp_values)
        raise click.UsageError(f"{names}: expected together with --dp, found without it")
    return TrainOptions(epochs=params["epochs"], batch_size=params["batch_size"], learning_rate=params["learning_rate"],
                        seed=params["seed"], mnist_dir=params["mnist_dir"], base_dir=str(params["base_dir"]),
                        config=params["config_path"], run_id=params["run_id"], dp=params["dp"], **dp_values, **extra)


def report_training(result: Any, epochs: int, as_json: bool) -> None:
    """Print a training run's summary (roots, anchors, privacy, verdict); exit 1 unless verified."""
    ok = bool(result.verification and result.verification["ok"])
    summary = {
        "run_dir": str(result.run_dir), "test_accuracy": result.accuracy, "roots": result.roots,
        "anchors": {k: {"state": v["state"], **{x: v["location"][x] for x in ("tx_hash", "cid", "txid") if x in v["location"]}}
                    for k, v in result.receipts.items()},
        "verified": ok, "report": str(result.report_path), "phases_s": {k: round(v, 3) for k, v in result.phases.items()},
    }
    if result.privacy:
        summary["privacy"] = result.privacy

    def text() -> str:
        lines = [f"run {result.run_dir}: test accuracy {result.accuracy:.3f} after {epochs} epochs"]
        lines += [f"  {stage:<9} root {root}" for stage, root in result.roots.items()]
        lines += [f"  anchor {k:<20} {v['state']:<10} {v['location'].get('tx_hash') or v['location'].get('cid') or v['location'].get('txid') or v.get('reason') or ''}"
                  for k, v in result.receipts.items()]
        if result.privacy:
            lines.append("  privacy spent (epsilon by epoch, delta {delta:g}, {accountant}): ".format(**result.privacy[-1])
                         + ", ".join(f"{p['epsilon']:.3f}" for p in result.privacy))
        lines.append(f"verification: {'PASSED' if ok else 'FAILED'}; report {result.report_path} (and report.md)")
        return "\n".join(lines)

    emit(as_json, summary, text)
    if not ok:
        sys.exit(1)


@click.command()
@training_options
@click.option("--gradient-shards", type=click.IntRange(min=1), default=1, show_default=True,
              help="Split each batch into this many shards whose gradients are added in order: one process "
                   "reproducing a distributed run of as many ranks (see provenance.training.distributed).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch intra-op threads (float results depend on it; torchrun gives each rank 1)  [default: torch's]")
def train(gradient_shards, threads, **params) -> None:
    """Train a small CNN with provenance: hash, anchor (before, per epoch, after) and verify."""
    from ..training import run_training

    options = options_from(params, gradient_shards=gradient_shards, threads=threads)
    report_training(run_training(options), options.epochs, params["as_json"])


@click.command()
@click.argument("run")
@click.option("--brief", is_flag=True, help="Print only failed checks, changed leaves and the verdict.")
@click.option("--submitter", "submitters", multiple=True, metavar="ADDRESS",
              help="An Ethereum address you trust to anchor runs (repeatable; also the config's "
                   "blockchain.ethereum.trusted_submitters): fails unless the run's identity is one of them.")
@shard_options
@base_dir_option
@config_option
@json_option
def verify(run, brief, submitters, engine, scheduler, workers, spot_check, seed, base_dir, config_path, as_json) -> None:
    """Verify RUN (a run folder, a run id under --base-dir, or `latest`) from its folder alone:
    re-hash data and models, recompute roots, check the chain, every anchor, who made it and in
    which order, and that the run is complete.

    Exits 1 if anything does not hold (FAILED, naming each changed leaf and its tree) or something
    is missing (INCOMPLETE: no post tree, or a tree without a confirmed anchor)."""
    with open_engine(engine, scheduler=scheduler, workers=workers) as runner:
        report = verify_run(resolve_run(run, base_dir), config=config_path, submitters=submitters, engine=runner,
                            spot_check=spot_check, seed=seed)

    def text() -> str:
        shown = [c for c in report.checks if not (brief and c.ok)]
        lines = [f"{'ok    ' if c.ok else 'MISSING' if c.incomplete else 'FAILED'}  {c.name}: {c.detail}" for c in shown]
        lines += [f"CHANGED {c.describe()}: recorded {c.recorded}, found {c.found}" for c in report.changes]
        lines += [f"warning: {w}" for w in report.warnings]
        lines.append(f"identity: {report.identity or 'none committed'}"
                     + (f" (trusted: {', '.join(report.trusted_submitters)})" if report.trusted_submitters else ""))
        lines += [f"  {a['stage']:<9} {a['network']:<9} anchored by {a['facts'].get('submitter', '?')} "
                  f"in block {a['facts'].get('block_number', '?')}" for a in report.anchors if a.get("facts", {}).get("submitter")]
        if report.verdict == "INCOMPLETE":
            lines.append("INCOMPLETE: " + "; ".join(report.missing))
        lines.append(f"run {report.run_id}: verification {report.verdict} "
                     f"({len(report.checks)} checks, tree links {'ok' if report.chain_integrity else 'BROKEN'}, "
                     f"{len(report.anchors)} anchors checked)")
        return "\n".join(lines)

    emit(as_json, report.to_json(), text)
    if not report.ok:
        sys.exit(1)


@click.command()
@click.argument("run", required=False)
@click.option("--retry", is_flag=True, help="Deliver every due outbox entry now (all runs unless RUN is given), "
              "re-checking confirmed anchors for reorgs.")
@click.option("--batch", is_flag=True, help="Anchor every queued Ethereum root (all runs) in one transaction; "
              "each run's receipt carries its proof to the batch root.")
@base_dir_option
@config_option
@json_option
def anchor(run, retry, batch, base_dir, config_path, as_json) -> None:
    """Anchor RUN's trees that have no confirmed anchor yet; with --retry, drive the outbox;
    with --batch, send all queued roots as one batch.

    Exits 3 if any anchor is still not confirmed (it stays queued for the next retry)."""
    if run is None:
        if not (retry or batch):
            raise click.UsageError("give a RUN, or --retry / --batch to deliver what is queued in the outbox")
        from ..anchoring import Anchors
        from ..config import load_config

        anchors = Anchors(load_config(config_path))
        entries = (anchors.send_batch() if batch else []) + (anchors.retry() if retry else [])
        receipts = {f"{e.run_id}/{e.stage}/{e.network}": e.current_receipt().to_json() for e in entries}
    else:
        tracker = ProvenanceTracker.load(resolve_run(run, base_dir), config_path)
        done = tracker.anchor_pending()
        receipts = {f"{stage}/{net}": r.to_json() for stage, by_net in done.items() for net, r in by_net.items()}
    emit(as_json, receipts, lambda: "\n".join(f"{k}: {v['state']} {v.get('reason') or ''}" for k, v in receipts.items()) or "nothing to anchor")
    if any(v["state"] != "confirmed" for v in receipts.values()):
        sys.exit(3)


@click.command()
@click.argument("run", required=False)
@base_dir_option
@config_option
@json_option
def status(run, base_dir, config_path, as_json) -> None:
    """The configured anchor networks and, for RUN, every stored root with its anchors."""
    if run is None:
        from ..anchoring import Anchors
        from ..config import load_config

        config = load_config(config_path)
        anchors = Anchors(config, read_only=True)
        queued = [e for e in anchors.outbox.entries() if e.state.value != "confirmed"]
        data = {
            "blockchain_enabled": anchors.enabled,
            "networks": anchors.status(),
            "outbox": {"counts": anchors.outbox.counts(), "not_confirmed": [
                {"run_id": e.run_id, "stage": e.stage, "network": e.network, "state": e.state.value,
                 "attempts": e.attempts, "last_error": e.last_error} for e in queued]},
        }

        def text() -> str:
            lines = [f"blockchain enabled: {anchors.enabled}"] + [f"{k}: {v}" for k, v in data["networks"].items()]
            lines.append("outbox: " + (", ".join(f"{n} {s}" for s, n in sorted(data["outbox"]["counts"].items())) or "empty"))
            lines += [f"  {e['run_id']}/{e['stage']} on {e['network']}: {e['state']} after {e['attempts']} attempts ({e['last_error']})"
                      for e in data["outbox"]["not_confirmed"]]
            return "\n".join(lines)

        emit(as_json, data, text)
        return
    from ..anchoring.outbox import Outbox
    from ..anchoring.recovery import news

    run_dir = resolve_run(run, base_dir)
    tracker = ProvenanceTracker.load(run_dir, config_path, read_only=True)
    data = tracker.get_blockchain_status()
    known = news(tracker.record, run_dir, Outbox())
    if known:
        data["recover"] = f"the outbox knows more than record.json ({', '.join(known)}): run `provenance recover {run_dir}`"

    def text() -> str:
        lines = [f"run {data['run_id']} (anchoring {'on' if data['blockchain_enabled'] else 'off'}: {', '.join(data['networks'])})"]
        for entry in data["stored_hashes"]:
            anchors_text = ", ".join(f"{n} {a['state']}" for n, a in entry["anchors"].items()) or "not anchored"
            lines.append(f"  {entry['stage']:<9} {entry['root']}  {anchors_text}")
        if known:
            lines.append(data["recover"])
        return "\n".join(lines)

    emit(as_json, data, text)

