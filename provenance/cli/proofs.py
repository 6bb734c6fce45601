"""`provenance prove | check-proof`: one sample's or tensor's membership, offline and on-chain."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..files import atomic_write_json
from ..verification.nested import (
    NestedProof,
    check_nested_offline,
    check_nested_on_network,
    load_proof_file,
    maybe_prove,
)
from ..verification.proofs import check_offline, check_on_network, prove
from ..record import Record
from .common import RECORD_FILE, base_dir_option, config_option, emit, ethereum_flags, json_option, load_settings_for, parse_leaf_ref, resolve_run, submitter_option


@click.command("prove")
@click.argument("run")
@click.option("--leaf", "leaf_ref", required=True, help="KIND:NAME of the leaf, e.g. data.sample:train/000123 or model.param:fc1.weight.")
@click.option("--stage", default=None, help="Tree holding the leaf (default: the first tree that has it).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Proof file to write (default: RUN/proofs/<kind>_<name>.json).")
@base_dir_option
@json_option
def prove_command(run, leaf_ref, stage, output, base_dir, as_json) -> None:
    """Write a proof that a leaf belongs to RUN, chained up to the run's final (anchored) root.

    With --json, print where it went, the chain of trees and the proof itself."""
    kind, name = parse_leaf_ref(leaf_ref)
    run_dir = resolve_run(run, base_dir)
    record = Record.load(run_dir / RECORD_FILE)
    path = output or run_dir / "proofs" / f"{kind}_{name.replace('/', '_')}.json"
    if (nested := maybe_prove(record, kind, name, stage)) is not None:  # a sharded run: sample -> shard -> root
        atomic_write_json(path, nested.to_json())
        steps = [s.stage for s in nested.run.steps]
        data = _proof_summary(path, kind, name, steps, nested.run.submitter, nested.to_json(), nested.shard, nested.index)
        emit(as_json, data, lambda: f"{path}: {nested.sample.label} (sample {nested.index} of shard {nested.shard}) in tree "
                                    f"{steps[0]}, chained through {' -> '.join(steps)}")
        return
    bundle = prove(record, kind, name, stage)
    atomic_write_json(path, bundle.to_json())
    steps = [s.stage for s in bundle.steps]
    data = _proof_summary(path, kind, name, steps, bundle.submitter, bundle.to_json())
    emit(as_json, data, lambda: f"{path}: {kind}:{name} in tree {steps[0]}, chained through {' -> '.join(steps)}"
         + (f", final root anchored by {bundle.submitter}" if bundle.submitter else ", final root not anchored on Ethereum"))


def _proof_summary(path: Path, kind: str, name: str, steps: list[str], submitter: str | None, proof: dict[str, Any],
                   shard: str | None = None, index: int | None = None) -> dict[str, Any]:
    """`prove --json`: the same keys for a plain and a nested (sharded) proof."""
    return {"path": str(path), "kind": kind, "name": name, "stage": steps[0], "chain": steps, "submitter": submitter,
            "nested": shard is not None, "shard": shard, "index": index, "proof": proof}


@click.command("check-proof")
@click.argument("proof_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--offline", is_flag=True, help="Check the hashes only; do not ask the chain.")
@submitter_option
@click.option("--network", default=None, help="Ethereum network: 'local', an RPC URL or Ape's ecosystem:network:provider "
              "(default: from the config and environment).")
@config_option
@json_option
def check_proof(proof_file, offline, submitters, network, config_path, as_json) -> None:
    """Check a proof file offline and with the MLProvenance contract (eth_call verifyLeafInclusion,
    scoped to the submitter the file names, in the contract its receipts name).

    The proof must also carry the path from a pre tree that commits the submitter (and the file's
    run id) up to the same final root, that pre root anchored by it: a one-tree "run" proves nothing.
    Exits 0 VALID, 1 unless every check holds (naming why), 3 when the chain cannot be asked."""
    from ..verification import verdicts
    from ..verification.proofs import check_run
    from ..verification.verify import trusted_addresses

    settings = load_settings_for(config_path, ethereum_flags(network, None))
    trusted = trusted_addresses(list(submitters) + list(settings.blockchain.ethereum.trusted_submitters))
    loaded = load_proof_file(proof_file)
    bundle = loaded.run if isinstance(loaded, NestedProof) else loaded
    if isinstance(loaded, NestedProof):  # both levels offline; verifyNestedInclusion on-chain
        results = check_nested_offline(loaded)
    else:
        results = check_offline(loaded)
    results += check_run(bundle, trusted)
    if not offline:
        where = settings.blockchain.ethereum.network
        results += check_nested_on_network(loaded, where) if isinstance(loaded, NestedProof) else check_on_network(loaded, where)
    ok = all(r[1] for r in results)
    identity = bundle.identity[0].leaf.name if bundle.identity else bundle.submitter
    trust = verdicts.trust_note(identity, trusted)
    known = verdicts.well_known(identity)
    data = {"ok": ok, "verdict": verdicts.PASSED if ok else verdicts.FAILED, "offline_only": offline, "submitter": bundle.submitter,
            "trust": trust, "well_known_identity": known, "checks": [{"name": n, "ok": o, "detail": d} for n, o, d in results]}
    emit(as_json, data, lambda: "\n".join([f"{'ok    ' if o else 'FAILED'}  {n}: {d}" for n, o, d in results]
                                         + ([f"warning: {known}"] if known else [])
                                         + [f"proof {'VALID' if ok else 'INVALID'}" + (" (offline only; on-chain not checked)" if offline else "")
                                            + f" ({trust})"]))
    if not ok:
        sys.exit(verdicts.exit_code(verdicts.FAILED))


def _network(config_path: Path | None, network: str | None) -> str:
    """The Ethereum network with the one precedence (config < environment < --network)."""
    return load_settings_for(config_path, ethereum_flags(network, None)).blockchain.ethereum.network
