"""`provenance audit RUN --segments K`: proof of training (`provenance.training.audit`)."""

from __future__ import annotations

import sys

import click

from .common import submitter_option
from .common import (
    base_dir_option,
    config_option,
    emit,
    ethereum_flags,
    json_option,
    load_settings_for,
    network_option,
    resolve_run,
)


@click.command()
@click.argument("run")
@click.option("--segments", "k", type=click.IntRange(min=1), required=True,
              help="How many segments to replay (a segment: from one committed training state to the next).")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Draw the segments from this seed instead of the chain (keccak of the post anchor's block hash and the final root).")
@click.option("--tolerance", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Compare by normalised distance with this threshold, even where the run recorded bit-exact replay (another machine).")
@click.option("--max-tolerance", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True,
              help="The loosest tolerance a run may record and still be accepted.")
@submitter_option
@base_dir_option
@config_option
@network_option
@json_option
def audit(run, k, seed, tolerance, max_tolerance, submitters, base_dir, config_path, eth_network, as_json) -> None:
    """Proof of training: replay K segments of RUN drawn from chain randomness and compare with its anchored states (AUDITED 0, FAILED 1, CANNOT CHECK 3).

    The run is verified first; each drawn segment is replayed from its committed start state
    (weights, optimizer, RNG; checked against the anchored leaves) on the committed samples in the
    committed order, and its end weights compared with the committed ones: bit-exact on
    deterministic CPU, else by the recorded tolerance."""
    from ..training.audit import audit_run, summary

    settings = load_settings_for(config_path, ethereum_flags(eth_network, None))
    report = audit_run(resolve_run(run, base_dir), segments=k, seed=seed, tolerance=tolerance, max_tolerance=max_tolerance,
                       config=settings, submitters=submitters)
    emit(as_json, report.to_json(), lambda: summary(report))
    if report.exit_code:
        sys.exit(report.exit_code)
