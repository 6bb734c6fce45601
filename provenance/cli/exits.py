"""Exit codes and the one place where the package's errors become one line and an exit code.

0 success; 1 a verification ran and something did not hold; 2 bad input, usage or configuration;
3 a network or node could not be reached (nothing was faked: retry later). Errors are one line on
stderr, never a traceback (`PROVENANCE_DEBUG=1` shows one).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Sequence

import click

from ..errors import AnchorError, ProvenanceError, VerificationError

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNREACHABLE = 1, 2, 3
# The import name of each optional dependency -> the extra of pyproject.toml that installs it.
EXTRAS = {
    "torch": "train", "sklearn": "train", "opacus": "train",
    "bitcoin": "bitcoin", "bitcoinrpc": "bitcoin", "opentimestamps": "bitcoin",
    "matplotlib": "plots", "ape": "ape", "ape_foundry": "ape", "ape_solidity": "ape",
    "dask": "dask", "distributed": "dask", "pyarrow": "shards", "lightning": "lightning",
    "transformers": "huggingface", "accelerate": "huggingface", "datasets": "huggingface", "huggingface_hub": "huggingface",
    "mlflow": "mlflow", "alembic": "mlflow", "sqlalchemy": "mlflow",
}


def exit_code(e: ProvenanceError) -> int:
    return EXIT_FAILED if isinstance(e, VerificationError) else EXIT_UNREACHABLE if isinstance(e, AnchorError) else EXIT_BAD_INPUT


class OneLineErrors:
    """Mixed into a click command or group: the package's errors become one line on stderr and
    the exit code `exit_code` gives. An argument that looks like a private key never reaches the
    printed line, whatever option it was pasted into."""

    _argv: Sequence[str] = ()

    def main(self, args: Sequence[str] | None = None, *more: Any, **options: Any) -> Any:
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().main(args, *more, **options)  # type: ignore[misc]

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        """The group's own options (`--log-level`, also from the environment) fail in one line
        too, through `_shown`: click would quote the refused value on its own."""
        try:
            return super().make_context(info_name, args, parent, **extra)  # type: ignore[misc]
        except click.UsageError as e:
            if os.environ.get("PROVENANCE_DEBUG"):
                raise
            click.echo(f"error: {self._shown(e.format_message())} (see `{info_name or 'provenance'} -h`)", err=True)
            raise click.exceptions.Exit(EXIT_BAD_INPUT) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except ProvenanceError as e:
            if os.environ.get("PROVENANCE_DEBUG"):
                raise
            click.echo(f"error: {self._shown(str(e))}", err=True)
            ctx.exit(exit_code(e))
        except click.UsageError as e:
            # click prints usage, a hint and the error on four lines; ours is one, with the hint in it
            if os.environ.get("PROVENANCE_DEBUG"):
                raise
            command = e.ctx.command_path if e.ctx is not None else ctx.command_path
            click.echo(f"error: {self._shown(e.format_message())} (see `{command} -h`)", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except ModuleNotFoundError as e:
            # an optional dependency the command needs: one line naming the extra that brings it
            extra = EXTRAS.get((e.name or "").split(".")[0])
            if extra is None or os.environ.get("PROVENANCE_DEBUG"):
                raise
            click.echo(f"error: expected {e.name.split('.')[0]} installed for this command, found it missing: "
                       f"pip install 'ml-provenance[{extra}]'", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except (OSError, EOFError) as e:
            # A path or stream no module turned into a ProvenanceError: still one line, and never
            # exit 1 (click turns EOFError into "Aborted!" and 1, the code of a failed verification).
            if os.environ.get("PROVENANCE_DEBUG"):
                raise
            click.echo(f"error: {self._shown(_describe_os_error(e))}", err=True)
            ctx.exit(EXIT_UNREACHABLE if _is_network(e) else EXIT_BAD_INPUT)

    def _shown(self, message: str) -> str:
        """`message` with every private key given on the command line or in the environment
        taken out, whole or cut short: errors quote what they found (a run, a folder, a
        variable's value), and a key pasted there must not reach a terminal or a CI log."""
        values = [a.split("=", 1)[-1] for a in self._argv] + list(os.environ.values())
        suspects = [v for v in values if len(v) >= 43]  # no key is shorter (a base64 key: 43)
        if not suspects:
            return message
        from ..secrets import secret_kind, secret_parts

        for value in suspects:
            kind = secret_kind(value)
            for part in sorted({value, *secret_parts(value)}, key=len, reverse=True) if kind else []:
                for size in range(len(part), 15, -1):  # a message may quote the first characters only
                    if part[:size] in message:
                        message = message.replace(part[:size], f"<a {kind}, not shown>")
                        break
        return message


def _is_network(e: BaseException) -> bool:
    # requests' errors (web3.py's own HTTPProvider, Ape's) are OSErrors too, named from its module:
    # the package does not import requests to recognise them
    return isinstance(e, (ConnectionError, TimeoutError)) or type(e).__module__.split(".")[0] in ("requests", "urllib3")


def _describe_os_error(e: OSError | EOFError) -> str:
    if isinstance(e, EOFError):
        return f"expected more input, found its end ({str(e) or 'end of file'})"
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}expected a usable file or folder, found: {(e.strerror or type(e).__name__).lower()}"


class ProvenanceGroup(OneLineErrors, click.Group):
    """The `provenance` group."""


class ProvenanceCommand(OneLineErrors, click.Command):
    """A stand-alone command (the torchrun entry point)."""
