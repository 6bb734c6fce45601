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


class ProvenanceGroup(OneLineErrors, click.Group):
    """The `provenance` group."""


class ProvenanceCommand(OneLineErrors, click.Command):
    """A stand-alone command (the torchrun entry point)."""
