"""`provenance`: hash, prove, anchor, verify and report ML training runs.

Exit codes: 0 success; 1 a verification ran and something did not hold; 2 bad input, usage or
configuration; 3 a network or node could not be reached (nothing was faked: retry later).
Errors are one line on stderr, never a traceback (`PROVENANCE_DEBUG=1` shows one).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from ..errors import AnchorError, ProvenanceError, VerificationError

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNREACHABLE = 1, 2, 3


class ProvenanceGroup(click.Group):
    """A click group that turns the package's errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ProvenanceError as e:
            if os.environ.get("PROVENANCE_DEBUG"):
                raise
            click.echo(f"error: {e}", err=True)
            ctx.exit(exit_code(e))
        except click.UsageError as e:
            # click prints usage, a hint and the error on four lines; ours is one, with the hint in it
            if os.environ.get("PROVENANCE_DEBUG"):
                raise
            command = e.ctx.command_path if e.ctx is not None else ctx.command_path
            click.echo(f"error: {e.format_message()} (see `{command} -h`)", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except (OSError, EOFError) as e:
            # A path or stream no module turned into a ProvenanceError: still one line, and never
            # exit 1 (click turns EOFError into "Aborted!" and 1, the code of a failed verification).
            if os.environ.get("PROVENANCE_DEBUG"):
                raise
            click.echo(f"error: {_describe_os_error(e)}", err=True)
            ctx.exit(EXIT_UNREACHABLE if _is_network(e) else EXIT_BAD_INPUT)


def _is_network(e: BaseException) -> bool:
    import requests

    return isinstance(e, (ConnectionError, TimeoutError, requests.RequestException))


def _describe_os_error(e: OSError | EOFError) -> str:
    if isinstance(e, EOFError):
        return f"expected more input, found its end ({str(e) or 'end of file'})"
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}expected a usable file or folder, found: {(e.strerror or type(e).__name__).lower()}"


def exit_code(e: ProvenanceError) -> int:
    return EXIT_FAILED if isinstance(e, VerificationError) else EXIT_UNREACHABLE if isinstance(e, AnchorError) else EXIT_BAD_INPUT


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
    from . import bitcoin, chain, ipfs, proofs, runs, trees

    for command in (runs.train, runs.verify, runs.anchor, runs.status, runs.report, proofs.prove_command,
                    proofs.check_proof, trees.hash_command, trees.tree_command, chain.chain, ipfs.ipfs):
        main.add_command(command)
    main.add_command(bitcoin.bitcoin)
    main.add_command(__import__("provenance.cli.revoke", fromlist=["revoke"]).revoke)
    main.add_command(__import__("provenance.cli.recover", fromlist=["recover"]).recover)


_register()


def run() -> None:  # pragma: no cover - console entry point
    main(prog_name="provenance")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
