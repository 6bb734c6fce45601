"""`provenance`: hash, prove, anchor, verify and report ML training runs.

Exit codes (`exits.py`): 0 success; 1 a verification ran and something did not hold; 2 bad input,
usage or configuration; 3 a network or node could not be reached (nothing was faked: retry later).
Errors are one line on stderr, never a traceback (`PROVENANCE_DEBUG=1` shows one).

Commands are registered lazily (`COMMANDS`): a command's module, and what it imports (web3, torch,
...), loads only when that command runs, so `provenance --help` costs about an `import click`.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from .exits import ProvenanceGroup

# name -> (module under provenance.cli, attribute, the first paragraph of the command's help).
# The summary is what `--help` lists without importing the module; a test checks that it equals
# the command's own help, so the two cannot drift apart.
COMMANDS: dict[str, tuple[str, str, str]] = {
    'anchor': ('runs', 'anchor',
        "Anchor RUN's trees that have no confirmed anchor yet; with --retry, drive the outbox; with --batch, send all queued roots as one batch."),
    'audit': ('audit', 'audit',
        "Proof of training: replay K segments of RUN drawn from chain randomness and compare with its anchored states (AUDITED 0, FAILED 1, CANNOT CHECK 3)."),
    'bitcoin': ('bitcoin', 'bitcoin',
        'Bitcoin anchors: the root in an OP_RETURN output, checked on a node.'),
    'chain': ('chain', 'chain',
        'Start, stop or inspect the embedded local chain (anvil, state kept in the data folder).'),
    'check-proof': ('proofs', 'check_proof',
        'Check a proof file offline and with the MLProvenance contract (eth_call verifyLeafInclusion, scoped to the submitter the file names, in the contract its receipts name).'),
    'export': ('exports', 'export',
        'Export RUN as a SLSA provenance statement or a CycloneDX ML-BOM: the same run gives the same bytes.'),
    'hash': ('trees', 'hash_command',
        'blake3 digests of files (a folder: every file in it), as provenance leaves.'),
    'hash-dataset': ('shards', 'hash_dataset_command',
        "Hash SOURCE shard by shard: each shard a standard tree of its samples, the dataset's root the tree of one data.shard leaf per shard. Exits 2 naming the first unreadable shard."),
    'ipfs': ('ipfs', 'ipfs',
        'Provenance records on IPFS: push pending ones, verify one, run the embedded node.'),
    'prove': ('proofs', 'prove_command',
        "Write a proof that a leaf belongs to RUN, chained up to the run's final (anchored) root."),
    'recover': ('recover', 'recover',
        "Rebuild RUN's record.json (a run folder, or a run id under --base-dir) from what the outbox holds: every stage that reached the outbox comes back with its receipts, and the stages that are not anchored are named. Verify the run afterwards."),
    'report': ('report', 'report',
        'Verify RUN (a run folder, a run id under --base-dir, or `latest`) and write report.json, report.md and report.html into its folder.'),
    'revoke': ('revoke', 'revoke',
        "Revoke the Ethereum anchor of RUN's STAGE (sent from the configured signer)."),
    'runs': ('listing', 'runs_command',
        "The runs under --base-dir, newest first: date, dataset, accuracy, stages, anchors and the verdict of each run's last saved report (nothing is re-verified: use `provenance verify`)."),
    'sign-model': ('exports', 'sign_model',
        "Sign RUN's final model with OpenSSF model signing (offline, key-based) and write model.sig next to it."),
    'status': ('runs', 'status',
        "The configured anchor networks and the outbox; for RUN, every stored root with its anchors, the run's outbox entries not confirmed yet and what to do next. Nothing is sent."),
    'train': ('runs', 'train',
        'Train a small CNN with provenance: hash, anchor (before, per epoch, after) and verify.'),
    'tree': ('trees', 'tree_command',
        "Roots, leaf counts and chain links of RUN's trees; with --stage S --leaves, the leaves of tree S (filtered by --kind)."),
    'verify-export': ('exports', 'verify_export',
        'Check every digest and anchor an exported statement or BOM claims, against RUN and its anchors (without RUN: the anchors on their networks).'),
    'verify': ('runs', 'verify',
        'Verify RUN (a run folder, a run id under --base-dir, or `latest`) from its folder alone: re-hash data and models, recompute roots, check the chain, every anchor, who made it and in which order, and that the run is complete.'),
}


class LazyGroup(ProvenanceGroup):
    """A group whose commands are named in a table and imported only when one is asked for."""

    def __init__(self, *args: object, lazy: dict[str, tuple[str, str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.lazy) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy:
            module, attribute, _ = self.lazy[name]
            self.add_command(getattr(importlib.import_module(f"{__name__}.{module}"), attribute), name)
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, from the table's summaries: listing the commands imports none of them."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            summary = self.lazy[name][2] if name in self.lazy and name not in self.commands else None
            if summary is None:
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                rows.append((name, click.utils.make_default_short_help(summary, limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
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


def run() -> None:  # pragma: no cover - console entry point
    main(prog_name="provenance")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
