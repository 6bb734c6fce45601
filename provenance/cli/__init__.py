"""`provenance`: hash, prove, anchor, verify and report ML training runs.

Exit codes (`exits.py`): 0 success; 1 a verification ran and something did not hold; 2 bad input,
usage or configuration; 3 a network or node could not be reached (nothing was faked: retry later).
Errors are one line on stderr, never a traceback (`PROVENANCE_DEBUG=1` shows one).
"""

from __future__ import annotations

import logging
import sys

import click

from .exits import ProvenanceGroup


@click.group(cls=ProvenanceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ml-provenance")
@click.option("--log-level", envvar="PROVENANCE_LOG_LEVEL", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              help="Logging to stderr (also $PROVENANCE_LOG_LEVEL).")
def main(log_level: str) -> None:
    """Verifiable provenance for ML training runs.

    Hashes data (per sample), models (per tensor), config, code and environment with blake3,
    builds OpenZeppelin-compatible Merkle trees, anchors their roots on Ethereum (IPFS and
    Bitcoin as secondary anchors) and verifies all of it later, from any machine.
    """
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _register() -> None:
    from . import bitcoin, chain, ipfs, listing, proofs, report, runs, shards, trees

    for command in (runs.train, runs.verify, runs.anchor, runs.status, report.report, proofs.prove_command,
                    proofs.check_proof, trees.hash_command, trees.tree_command, shards.hash_dataset_command,
                    chain.chain, ipfs.ipfs, listing.runs_command):
        main.add_command(command)
    main.add_command(bitcoin.bitcoin)
    main.add_command(__import__("provenance.cli.revoke", fromlist=["revoke"]).revoke)
    main.add_command(__import__("provenance.cli.recover", fromlist=["recover"]).recover)


_register()


def run() -> None:  # pragma: no cover - console entry point
    main(prog_name="provenance")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
