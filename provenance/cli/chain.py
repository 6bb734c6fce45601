"""`provenance chain`: the embedded local chain (anvil with kept state, one per data folder)."""

from __future__ import annotations

import json

import click

from ..anchors.ethereum import node as localchain
from ..anchors.ethereum import backend as ethereum
from ..files import data_home


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
    """Whether this data folder's local chain answers, and what it holds. Starts nothing.

    Exits 3 if a node that is not this folder's chain answers on its port."""
    found = localchain.state()
    if found == "foreign":
        localchain.ensure_running(start=False)  # refuses it: AnchorError, exit 3
    if found != "ours":
        port = localchain.port()
        info = {"running": False, "home": str(data_home()), "port": port}
        click.echo(json.dumps(info) if as_json else f"local chain: not running (home {data_home()}, port {port or 'not chosen yet'})")
        return
    info = {"running": True, "home": str(data_home()), "port": localchain.port()} | ethereum.connect("local").status()
    click.echo(json.dumps(info) if as_json else "\n".join(f"{k}: {v}" for k, v in info.items()))
