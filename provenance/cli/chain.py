"""`provenance chain`: the embedded local chain (anvil with kept state)."""

from __future__ import annotations

import json

import click

from ..anchors.ethereum import node as localchain
from ..anchors.ethereum import backend as ethereum


@click.group()
def chain() -> None:
    """Start, stop or inspect the embedded local chain (anvil, state kept in the data folder)."""


@chain.command()
def start() -> None:
    """Start the local chain (if not running) and deploy MLProvenance on it (if absent)."""
    anchor = ethereum.connect("local")
    click.echo(f"local chain at {localchain.url()}, chain id {anchor.chain_id}, MLProvenance at {anchor.address}")


@chain.command()
def stop() -> None:
    """Stop the local chain; its state is dumped and kept for the next start."""
    click.echo("stopped" if localchain.stop() else "the local chain was not started by this tool")


@chain.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def status(as_json: bool) -> None:
    """Whether the local chain answers, and what it holds."""
    if not localchain.is_running():
        click.echo(json.dumps({"running": False}) if as_json else f"local chain: not running ({localchain.url()})")
        return
    info = {"running": True} | ethereum.connect("local").status()
    click.echo(json.dumps(info) if as_json else "\n".join(f"{k}: {v}" for k, v in info.items()))
