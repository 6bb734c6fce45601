"""`provenance ipfs`: push records from the local store, check the node, verify a record, and
run the embedded js-ipfs node."""

from __future__ import annotations

import functools
import json
from typing import Any, Callable

import click

from ..anchors.ipfs import node as ipfsnode
from ..anchors.ipfs import backend as ipfs_anchor
from ..anchors.open import open_backend
from ..errors import ProvenanceError
from ..merkle import parse_bytes32
from .common import config_option, load_settings_for
from .exits import EXIT_FAILED


def ipfs_url_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--config`, `--ipfs-url` and `--timeout`, for every command that talks to a node: each flag
    wins over the environment (`$PROVENANCE_IPFS_URL`, `$PROVENANCE_IPFS_TIMEOUT`), which wins over
    the config file's `blockchain.ipfs` section."""
    @functools.wraps(fn)
    def wrapper(config_path: Any, ipfs_url: str | None, timeout: float | None, **kwargs: Any) -> Any:
        flags = {"blockchain.ipfs.api_url": ("--ipfs-url", ipfs_url), "blockchain.ipfs.timeout": ("--timeout", timeout)}
        section = load_settings_for(config_path, flags).blockchain.ipfs
        return fn(anchor=open_backend("ipfs", section, read_only=True), **kwargs)

    wrapper = click.option(
        "--timeout", type=click.FloatRange(min=1.0), default=None,
        help="Seconds to wait for any one answer from the node. [$PROVENANCE_IPFS_TIMEOUT; config blockchain.ipfs.timeout; 30]",
    )(wrapper)
    wrapper = click.option(
        "--ipfs-url", metavar="URL",
        help="Kubo RPC API of your IPFS node, e.g. http://127.0.0.1:5001 (default: the embedded node if it runs). "
             "[$PROVENANCE_IPFS_URL; config blockchain.ipfs.api_url]",
    )(wrapper)
    return config_option(wrapper)


def _emit(info: dict[str, Any], as_json: bool) -> None:
    click.echo(json.dumps(info) if as_json else "\n".join(f"{k}: {v}" for k, v in info.items()))


@click.group()
def ipfs() -> None:
    """Provenance records on IPFS: push pending ones, verify one, run the embedded node."""


@ipfs.command()
@click.argument("cids", nargs=-1)
@ipfs_url_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def push(anchor: ipfs_anchor.IpfsAnchor, cids: tuple[str, ...], as_json: bool) -> None:
    """Add and pin records from the local store to the node (default: every stored record).
    Each is confirmed only if the node returns the CID computed locally."""
    todo = [ipfs_anchor.parse_cid(c) for c in cids] or anchor.store.cids()
    pushed = []
    for cid in todo:
        try:
            pushed.append(anchor.push_cid(cid))
        except ProvenanceError as e:
            raise type(e)(f"push {cid}: {e}") from None
    if as_json:
        click.echo(json.dumps({"node": anchor.endpoint, "confirmed": pushed}))
    elif not pushed:
        click.echo(f"nothing to push: the local store ({anchor.store.folder}) is empty")
    for cid in [] if as_json else pushed:
        click.echo(f"confirmed {cid} on {anchor.endpoint}")


@ipfs.command()
@click.argument("target")
@click.option("--root", "root_hex", required=True, metavar="0xROOT", help="The tree root the record must hold.")
@ipfs_url_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def verify(ctx: click.Context, anchor: ipfs_anchor.IpfsAnchor, target: str, root_hex: str, as_json: bool) -> None:
    """Fetch a record from IPFS, re-hash it, and check it holds ROOT. TARGET is the record's
    CID, or the 0x sha2-256 `recordDigest` an Ethereum anchor stores (the CID is rebuilt from it)."""
    root = parse_bytes32(root_hex, what="--root")
    if target.startswith(("0x", "0X")):
        cid = ipfs_anchor.cid_from_sha256(parse_bytes32(target, what="record digest"))
    else:
        cid = ipfs_anchor.parse_cid(target)
    verdict = anchor.verify_cid(cid, root)
    if as_json:
        click.echo(json.dumps(verdict.to_json() | {"cid": cid}))
    else:
        click.echo(f"{'ok' if verdict.ok else 'FAILED'}: {verdict.detail}")
    if not verdict.ok:
        ctx.exit(EXIT_FAILED)


@ipfs.command()
@ipfs_url_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def status(anchor: ipfs_anchor.IpfsAnchor, as_json: bool) -> None:
    """The node records go to (version, peer id) and the local store."""
    _emit(anchor.status(), as_json)


@ipfs.group()
def node() -> None:
    """The embedded IPFS node (js-ipfs, RPC API on 127.0.0.1, offline), for users who run none."""


@node.command("start")
def node_start() -> None:
    """Start the embedded node (initialising its repo under the data folder on first use)."""
    embedded = ipfsnode.default_node()
    click.echo(f"IPFS node (js-ipfs) at {embedded.start()}, repo {embedded.repo}")


@node.command("stop")
def node_stop() -> None:
    """Stop the embedded node started by this tool."""
    click.echo("stopped" if ipfsnode.default_node().stop() else "the embedded IPFS node was not started by this tool")


@node.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def node_status(as_json: bool) -> None:
    """Whether the embedded node answers."""
    embedded = ipfsnode.default_node()
    info = {"running": embedded.is_running(), "url": embedded.url, "repo": str(embedded.repo), "pid": embedded.pid()}
    _emit(info, as_json)
