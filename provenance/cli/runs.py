"""`provenance train | verify | anchor | status`: whole runs (`report` is in report.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import click

from ..errors import ProvenanceError
from ..training.tracker import ProvenanceTracker
from ..verification.verify import verify_run
from .common import submitter_option
from .common import (account_option, base_dir_option, config_option, emit, ethereum_flags, ethereum_options, json_option,
                     load_settings_for, network_option, resolve_run)
from .data import data_option, parse_data_options
from .listing import read_row, short_root
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
        click.option("--identity", metavar="ADDRESS", default=None,
                     help="The Ethereum account the pre tree commits to, whose key need not be here: train with anchoring "
                          "off, then `provenance anchor RUN` with that account. [config blockchain.ethereum.identity]"),
        base_dir_option,
        config_option,
        network_option,
        account_option,
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
    config = params["config_path"]
    if params["eth_network"] or params["eth_account"]:
        config = load_settings_for(config, ethereum_flags(params["eth_network"], params["eth_account"]))
    return TrainOptions(epochs=params["epochs"], batch_size=params["batch_size"], learning_rate=params["learning_rate"],
                        seed=params["seed"], mnist_dir=params["mnist_dir"], base_dir=str(params["base_dir"]),
                        config=config, run_id=params["run_id"], dp=params["dp"], identity=params["identity"], **dp_values, **extra)


def report_training(result: Any, epochs: int, as_json: bool) -> None:
    """Print a training run's summary (roots, anchors, privacy, verdict); exit as `verify` does."""
    from ..verification import verdicts

    ok = bool(result.verification and result.verification["ok"])
    # the report's own verdict: INCOMPLETE (pending or batched anchors) is not FAILED
    verdict = str((result.verification or {}).get("verdict") or ("PASSED" if ok else "FAILED"))
    summary = {
        "run_dir": str(result.run_dir), "test_accuracy": result.accuracy, "roots": result.roots,
        "anchors": {k: {"state": v["state"], **{x: v["location"][x] for x in ("tx_hash", "cid", "txid") if x in v["location"]}}
                    for k, v in result.receipts.items()},
        "history": result.history, "verified": ok, "report": str(result.report_path), "phases_s": {k: round(v, 3) for k, v in result.phases.items()},
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
        unproven = (result.verification or {}).get("not_proven") or []  # an IPFS-only / Bitcoin-only run
        lines.append(f"verification: {verdict}" + (f" (NOT proven: {'; '.join(unproven)})" if unproven else "")
                     + f"; report {result.report_path} (and report.md, report.html)")
        return "\n".join(lines)

    summary["verdict"] = verdict
    emit(as_json, summary, text)
    if not ok:
        sys.exit(verdicts.exit_code(verdict))


@click.command()
@training_options
@click.option("--gradient-shards", type=click.IntRange(min=1), default=1, show_default=True,
              help="Split each batch into this many shards whose gradients are added in order: one process "
                   "reproducing a distributed run of as many ranks (see provenance.training.distributed).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch intra-op threads (float results depend on it; torchrun gives each rank 1)  [default: torch's]")
@click.option("--audit-every", type=click.IntRange(min=1), default=None,
              help="Proof of training: also commit a training-state checkpoint every N steps inside an epoch, "
                   "so `provenance audit` can replay shorter segments  [default: one segment per epoch]")
def train(gradient_shards, threads, audit_every, **params) -> None:
    """Train a small CNN with provenance: hash, anchor (before, per epoch, after) and verify."""
    from ..training import run_training
    from ..training.job import Hooks
    from .progress import TrainingProgress

    options = options_from(params, gradient_shards=gradient_shards, threads=threads, audit_every=audit_every)
    progress = TrainingProgress(options.epochs, lines=not params["as_json"])  # bars only on a terminal
    try:
        result = run_training(options, hooks=Hooks(phase=progress.phase, epoch=progress.epoch))
    finally:
        progress.close()
    report_training(result, options.epochs, params["as_json"])


@click.command()
@click.argument("run")
@click.option("--brief", is_flag=True, help="Print only failed checks, changed leaves and the verdict.")
@submitter_option
@data_option
@shard_options
@base_dir_option
@config_option
@network_option
@json_option
def verify(run, brief, submitters, data_paths, engine, scheduler, workers, spot_check, seed, base_dir, config_path, eth_network,
           as_json) -> None:
    """Verify RUN (a run folder, a run id under --base-dir, or `latest`) from its folder alone:
    re-hash data and models, recompute roots, check the chain, every anchor, who made it and in
    which order, and that the run is complete.

    Exits 0 PASSED; 1 if anything does not hold (FAILED, naming each changed leaf and its tree) or
    something is missing (INCOMPLETE: no post tree, or a tree without a confirmed anchor); 3 if the
    only failures are checks that could not be made (CANNOT CHECK: a network down, data not given).
    --data NAME=PATH points a dataset of the run at your own copy."""
    with open_engine(engine, scheduler=scheduler, workers=workers) as runner:
        settings = load_settings_for(config_path, ethereum_flags(eth_network, None))
        report = verify_run(resolve_run(run, base_dir), config=settings, submitters=submitters, engine=runner,
                            spot_check=spot_check, seed=seed, data=parse_data_options(data_paths))

    def text() -> str:
        shown = [c for c in report.checks if not (brief and c.ok)]
        lines = [f"{'ok    ' if c.ok else 'MISSING' if c.incomplete else 'UNCHECKED' if c.unchecked else 'FAILED'}  {c.name}: {c.detail}"
                 for c in shown]
        lines += [f"CHANGED {c.describe()}: recorded {c.recorded}, found {c.found}" for c in report.changes]
        lines += [f"warning: {w}" for w in report.warnings]
        lines += [f"data checked: {name} at {path}" for name, path in report.data_sources.items()]
        lines.append(f"identity: {report.identity or 'none committed'}"
                     + (f" (trusted: {', '.join(report.trusted_submitters)})" if report.trusted_submitters else ""))
        if report.unchecked:
            lines.append("CANNOT CHECK: " + "; ".join(report.unchecked))
        lines += [f"  {a['stage']:<9} {a['network']:<9} anchored by {a['facts'].get('submitter', '?')} "
                  f"in block {a['facts'].get('block_number', '?')}" for a in report.anchors if a.get("facts", {}).get("submitter")]
        if report.verdict == "INCOMPLETE":
            lines.append("INCOMPLETE: " + "; ".join(report.missing))
        lines += [f"NOT PROVEN: {line}" for line in report.not_proven]
        lines.append(f"run {report.run_id}: verification {report.verdict}"
                     + (" (content and chain only, no identity)" if report.not_proven else "")
                     + f" ({len(report.checks)} checks, tree links {'ok' if report.chain_integrity else 'BROKEN'}, "
                     f"{len(report.anchors)} anchors checked; {report.trust})")
        return "\n".join(lines)

    emit(as_json, report.to_json(), text)
    if report.exit_code:
        sys.exit(report.exit_code)


@click.command()
@click.argument("run", required=False)
@click.option("--retry", is_flag=True, help="Deliver every due outbox entry now (all runs unless RUN is given), "
              "re-checking confirmed anchors for reorgs.")
@click.option("--batch", is_flag=True, help="Anchor every queued Ethereum root (all runs) in one transaction; "
              "each run's receipt carries its proof to the batch root.")
@base_dir_option
@config_option
@ethereum_options
@json_option
def anchor(run, retry, batch, base_dir, config_path, eth_network, eth_account, as_json) -> None:
    """Anchor RUN's trees that have no confirmed anchor yet; with --retry, drive the outbox;
    with --batch, send all queued roots as one batch.

    Exits 3 if any anchor is still not confirmed (it stays queued for the next retry)."""
    settings = load_settings_for(config_path, ethereum_flags(eth_network, eth_account))
    if run is None:
        if not (retry or batch):
            raise click.UsageError("give a RUN, or --retry / --batch to deliver what is queued in the outbox")
        from ..anchoring import Anchors

        anchors = Anchors(settings)
        entries = (anchors.send_batch() if batch else []) + (anchors.retry() if retry else [])
        receipts = {f"{e.run_id}/{e.stage}/{e.network}": e.current_receipt().to_json() for e in entries}
        # left pending, each with the identity it waits for (sent only from the account its run committed to)
        receipts |= {f"{e.run_id}/{e.stage}/{e.network}": e.current_receipt().to_json() | {"reason": why}
                     for e, why in anchors.held_back}
    else:
        tracker = ProvenanceTracker.load(resolve_run(run, base_dir), settings)
        done = tracker.anchor_pending()
        receipts = {f"{stage}/{net}": r.to_json() for stage, by_net in done.items() for net, r in by_net.items()}
        _mark_revoked(tracker.anchors, receipts.values())
    emit(as_json, receipts, lambda: "\n".join(f"{k}: {v['state']} {v.get('reason') or ''}" for k, v in receipts.items()) or "nothing to anchor")
    if any(v["state"] == "revoked" for v in receipts.values()):
        sys.exit(1)  # withdrawn for good: retrying changes nothing
    if any(v["state"] != "confirmed" for v in receipts.values()):
        sys.exit(3)


def _mark_revoked(anchors: Any, receipts: Any) -> None:
    """A confirmed Ethereum anchor that its submitter has revoked since shows as `revoked`, with
    the reason to look up, not `confirmed` (the record's receipt keeps what was delivered).
    Read from the contract; an unreachable node leaves the state as it was."""
    for receipt in receipts:
        location = receipt.get("location") or {}
        if receipt.get("network") != "ethereum" or receipt.get("state") != "confirmed" or not location.get("submitter"):
            continue
        try:
            backend = anchors.backend("ethereum")
            if str(location.get("contract", "")).lower() != str(backend.address).lower():
                continue
            root = bytes.fromhex(str(location.get("batch_root") or receipt["root"])[2:])
            if backend.anchor_info(root, str(location["submitter"])).revoked:
                receipt["state"] = "revoked"
                receipt["reason"] = f"revoked by {location['submitter']} (`provenance verify` names the reason)"
        except (ProvenanceError, ValueError, KeyError, OSError):
            continue


@click.command()
@click.argument("run", required=False)
@base_dir_option
@config_option
@json_option
def status(run, base_dir, config_path, as_json) -> None:
    """The configured anchor networks and the outbox; for RUN, every stored root with its anchors,
    the run's outbox entries not confirmed yet and what to do next. Nothing is sent."""
    from ..anchoring import Anchors

    if run is None:
        anchors = Anchors(load_settings_for(config_path), read_only=True)
        queued = [_outbox_entry(e) for e in anchors.outbox.entries() if e.state.value != "confirmed"]
        data = {
            "blockchain_enabled": anchors.enabled,
            "networks": anchors.status(),
            "outbox": {"counts": anchors.outbox.counts(), "not_confirmed": queued},
            "next": ("run `provenance anchor --retry` to deliver the outbox entries not confirmed" if queued else None),
        }
        emit(as_json, data, lambda: _status_text(data))
        return
    from ..anchoring.outbox import Outbox
    from ..anchoring.recovery import entries_for, news

    run_dir = resolve_run(run, base_dir)
    tracker = ProvenanceTracker.load(run_dir, config_path, read_only=True)
    data = tracker.get_blockchain_status()
    _mark_revoked(tracker.anchors, [a for h in data["stored_hashes"] for a in h["anchors"].values()])
    outbox = Outbox(read_only=True)
    known = news(tracker.record, run_dir, outbox)
    data["recover"] = (f"the outbox knows more than record.json ({', '.join(known)}): run `provenance recover {run_dir}`"
                       if known else None)  # always there: --json keys do not come and go
    data["outbox"] = [_outbox_entry(e) for e in entries_for(run_dir, tracker.record.run_id, outbox) if e.state.value != "confirmed"]
    from ..verification.verdicts import well_known

    pre = tracker.record.stages[0] if tracker.record.stages and tracker.record.stages[0].name == "pre" else None
    identities = pre.identities() if pre is not None else []
    data["identity"] = identities[0] if len(identities) == 1 else None
    data["identity_warning"] = well_known(data["identity"])
    saved = read_row(run_dir)
    data["saved_verdict"] = {"verdict": saved.verdict, "saved_at": saved.verdict_saved_at, "current": saved.verdict_current}
    data["next"] = _next_step(data, run_dir)
    emit(as_json, data, lambda: _run_status_text(data))


def _outbox_entry(e: Any) -> dict[str, Any]:
    return {"run_id": e.run_id, "stage": e.stage, "network": e.network, "state": e.state.value,
            "attempts": e.attempts, "last_error": e.last_error}


def _next_step(data: dict[str, Any], run_dir: Path) -> str:
    """What the user of a run's status should do next, most urgent first."""
    if data["recover"]:
        return f"run `provenance recover {run_dir}` (the outbox knows more than record.json)"
    stages = data["stored_hashes"]
    networks = data["networks"] if data["blockchain_enabled"] else []
    revoked = [f"{h['stage']}/{n}" for h in stages for n, a in h["anchors"].items() if a.get("state") == "revoked"]
    if revoked:
        return f"the anchors of {', '.join(revoked)} are revoked, for good: `provenance verify {run_dir}` fails; train a new run"
    unconfirmed = [f"{h['stage']}/{n}" for h in stages for n in networks if h["anchors"].get(n, {}).get("state") != "confirmed"]
    if unconfirmed:
        return (f"run `provenance anchor {run_dir}` to anchor what is not confirmed ({', '.join(unconfirmed)}), "
                "or `provenance anchor --retry` for every run")
    if not any(h["stage"] == "post" for h in stages):
        return "no post-training tree yet: the run is incomplete until its training finishes (or `provenance recover` brings it back)"
    return f"run `provenance verify {run_dir}` to check the artifacts and every anchor"


def _describe_network(info: dict[str, Any]) -> str:
    if info.get("reachable") is False:
        return f"unreachable: {info.get('reason') or info.get('error') or 'no answer'}"
    if info.get("deployed") is False:
        return f"reachable, not deployed: {info.get('error')}"
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in info.items() if k not in ("network", "reachable") and v is not None)


def _status_text(data: dict[str, Any]) -> str:
    networks = data["networks"]
    lines = [f"anchoring: {'on' if data['blockchain_enabled'] else 'off'}" + (f" ({', '.join(networks)})" if networks else "")]
    lines += [f"  {name:<9} {_describe_network(info)}" for name, info in networks.items()]
    counts = data["outbox"]["counts"]
    lines.append("outbox: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty"))
    lines += [f"  {e['run_id']}/{e['stage']} on {e['network']}: {e['state']} after {e['attempts']} attempts"
              + (f" (last error: {e['last_error']})" if e["last_error"] else "") for e in data["outbox"]["not_confirmed"]]
    if data["next"]:
        lines.append(f"next: {data['next']}")
    return "\n".join(lines)


def _run_status_text(data: dict[str, Any]) -> str:
    networks = data["networks"]
    lines = [f"run {data['run_id']}: anchoring {'on' if data['blockchain_enabled'] else 'off'}"
             + (f" ({', '.join(networks)})" if networks else "")]
    shown = sorted({n for h in data["stored_hashes"] for n in h["anchors"]} | set(networks if data["blockchain_enabled"] else []))
    table = [("stage", "root", *shown)] + [
        (h["stage"], short_root(h["root"]), *(_anchor_cell(h["anchors"].get(n)) for n in shown)) for h in data["stored_hashes"]]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    if data["outbox"]:
        lines.append(f"outbox: {len(data['outbox'])} not confirmed")
        lines += [f"  {e['stage']} on {e['network']}: {e['state']} after {e['attempts']} attempts"
                  + (f" (last error: {e['last_error']})" if e["last_error"] else "") for e in data["outbox"]]
    if data["recover"]:
        lines.append(data["recover"])
    lines.append(f"identity: {data['identity'] or 'none committed (anchoring it is refused)'}"
                 + (f" ({data['identity_warning']})" if data["identity_warning"] else ""))
    saved = data["saved_verdict"]
    lines.append(f"last saved verdict: {saved['verdict']}" + (f" (report.json of {saved['saved_at']}"
                 + (", about older trees" if saved["current"] is False else "") + ")" if saved["saved_at"] else ""))
    lines.append(f"next: {data['next']}")
    return "\n".join(lines)


def _anchor_cell(anchor: dict[str, Any] | None) -> str:
    if anchor is None:
        return "-"
    if anchor["state"] == "submitted":
        return f"submitted ({anchor.get('confirmations', 0)} conf.)"
    return anchor["state"] + (f" ({anchor['reason']})" if anchor["state"] == "failed" and anchor.get("reason") else "")

