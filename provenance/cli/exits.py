"""Exit codes and the one place where the package's errors become one line and an exit code.

0 success; 1 a verification ran and something did not hold; 2 bad input, usage or configuration;
3 a network or node could not be reached (nothing was faked: retry later). Errors are one line on
stderr, never a traceback (`PROVENANCE_DEBUG=1` shows one).
"""

from __future__ import annotations

import os
from typing import Any

import click

from ..errors import AnchorError, ProvenanceError, VerificationError

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNREACHABLE = 1, 2, 3


def exit_code(e: ProvenanceError) -> int:
    return EXIT_FAILED if isinstance(e, VerificationError) else EXIT_UNREACHABLE if isinstance(e, AnchorError) else EXIT_BAD_INPUT


class OneLineErrors:
    """Mixed into a click command or group: the package's errors become one line on stderr and
    the exit code `exit_code` gives."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except ProvenanceError as e:
            if os.environ.get("PROVENANCE_DEBUG"):
                raise
            click.echo(f"error: {e}", err=True)
            ctx.exit(exit_code(e))


class ProvenanceGroup(OneLineErrors, click.Group):
    """The `provenance` group."""


class ProvenanceCommand(OneLineErrors, click.Command):
    """A stand-alone command (the torchrun entry point)."""
