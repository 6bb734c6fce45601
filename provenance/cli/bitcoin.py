"""`provenance bitcoin`: anchor roots in OP_RETURN outputs, verify receipts and OpenTimestamps
proofs against a node, build signed anchor transactions offline, run the embedded regtest node.

The node and what to expect of it come from the one configuration (`provenance.config`):
defaults < `--config` (its `blockchain.bitcoin` section) < `$PROVENANCE_BITCOIN_*` (and
`$BITCOIN_RPC_URL`) < these flags. The node defaults to `local`: the embedded regtest node, started
on demand. Credentials only from `$BITCOIN_RPC_USER`/`$BITCOIN_RPC_PASSWORD` or the cookie file
in `$BITCOIN_RPC_COOKIE` (the local node's own cookie by default); an offline signing key only
from `$BITCOIN_PRIVATE_KEY` (WIF).
"""

from __future__ import annotations

import functools
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import click

from ..anchors.bitcoin import node as bitcoin_node
from ..record.receipts import Receipt, Verdict
from ..anchors.bitcoin.backend import BitcoinAnchor
from ..anchors.bitcoin.settings import BitcoinSettings
from ..anchors.open import open_backend
from ..anchors.bitcoin.dialects import DIALECTS, dialect_named
from ..anchors.bitcoin.rpc import require_extra
from ..errors import ConfigError, FormatError
from ..files import atomic_write_json
from ..merkle import parse_bytes32
from .exits import EXIT_FAILED
from .common import config_option, json_option, load_settings_for

KEY_ENV = "BITCOIN_PRIVATE_KEY"


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The node to talk to: each flag wins over the environment, which wins over `--config`."""
    options = [
        config_option,
        click.option("--url", help="Node JSON-RPC URL, or 'local' (the embedded regtest node). [$PROVENANCE_BITCOIN_RPC_URL, $BITCOIN_RPC_URL]"),
        click.option("--chain", help="Chain the node must be on: main, test, signet, regtest, ... [$PROVENANCE_BITCOIN_CHAIN; regtest]"),
        click.option("--dialect", type=click.Choice(["auto", *DIALECTS]), help="Node dialect. [$PROVENANCE_BITCOIN_DIALECT; auto]"),
        click.option("--confirmations", type=click.IntRange(min=1), help="Confirmations required. [$PROVENANCE_BITCOIN_CONFIRMATIONS; 1]"),
        click.option("--wallet", help="Bitcoin Core wallet to use (loaded or created). [$PROVENANCE_BITCOIN_WALLET]"),
        click.option("--max-fee-rate", type=Decimal, help="Highest fee rate to pay, BTC/kvB. [$PROVENANCE_BITCOIN_MAX_FEE_RATE; 0.001]"),
    ]

    @functools.wraps(command)
    def wrapper(config_path, url, chain, dialect, confirmations, wallet, max_fee_rate, **kwargs):
        flags = {"rpc_url": ("--url", url), "chain": ("--chain", chain), "dialect": ("--dialect", dialect),
                 "confirmations": ("--confirmations", confirmations), "wallet": ("--wallet", wallet),
                 "max_fee_rate": ("--max-fee-rate", max_fee_rate)}
        settings = load_settings_for(config_path, {f"blockchain.bitcoin.{k}": v for k, v in flags.items()})
        return command(config=settings.blockchain.bitcoin, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


out_option = click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the receipt (JSON) here.")


@click.group()
def bitcoin() -> None:
    """Bitcoin anchors: the root in an OP_RETURN output, checked on a node."""


@bitcoin.command()
@connection_options
@json_option
def status(config: BitcoinSettings, as_json: bool) -> None:
    """What the node is: chain, dialect, height, wallet balance."""
    _echo(_open(config).status(), as_json)


@bitcoin.command()
@click.argument("root")
@connection_options
@out_option
@json_option
def anchor(config: BitcoinSettings, root: str, out: Path | None, as_json: bool) -> None:
    """Anchor ROOT (32 bytes as hex) with the node's wallet; prints the receipt."""
    value = parse_bytes32(root, what="root")
    receipt = _open(config).anchor(value)
    _receipt_out(receipt, out, as_json)


@bitcoin.command()
@click.argument("root")
@click.argument("raw_tx")
@connection_options
@out_option
@json_option
def broadcast(config: BitcoinSettings, root: str, raw_tx: str, out: Path | None, as_json: bool) -> None:
    """Send RAW_TX, signed elsewhere (`build-tx`), that anchors ROOT; prints the receipt."""
    value = parse_bytes32(root, what="root")
    receipt = _open(config).broadcast(value, raw_tx.strip())
    _receipt_out(receipt, out, as_json)


@bitcoin.command("build-tx")
@click.argument("root")
@click.option("--utxo", "outpoint", required=True, help="The output to spend, TXID:VOUT.")
@click.option("--amount", type=click.IntRange(min=1), required=True, help="Its value in satoshis.")
@click.option("--script", "script_hex", required=True, help="Its scriptPubKey as hex (P2WPKH or P2PKH of the key).")
@click.option("--fee-rate", type=click.IntRange(min=1), default=2, show_default=True, help="Satoshis per virtual byte.")
@click.option("--dialect", type=click.Choice(list(DIALECTS)), default="core", show_default=True)
@click.option("--chain", default="main", show_default=True, help="Chain of the key (main, or any test chain).")
def build_tx(root: str, outpoint: str, amount: int, script_hex: str, fee_rate: int, dialect: str, chain: str) -> None:
    """Build and sign, without any node, a transaction anchoring ROOT; the key (WIF) comes from
    $BITCOIN_PRIVATE_KEY only. Prints JSON: raw, txid, vout, fee, vsize."""
    offline = require_extra("provenance.anchors.bitcoin.offline")  # python-bitcoinlib
    wif = os.environ.get(KEY_ENV)
    if not wif:
        raise ConfigError(f"no signing key: expected a WIF private key in ${KEY_ENV}")
    txid, sep, vout = outpoint.partition(":")
    if not sep or not vout.isdigit():
        raise FormatError(f"--utxo: expected TXID:VOUT, found {outpoint[:100]!r}")
    try:
        script = bytes.fromhex(script_hex)
    except ValueError:
        raise FormatError(f"--script: expected hex, found {script_hex[:100]!r}") from None
    signed = offline.build_anchor_tx(
        parse_bytes32(root, what="root"),
        offline.Utxo(txid.lower(), int(vout), amount, script),
        offline.key_from_wif(wif, chain),
        dialect=dialect_named(dialect), fee_rate=fee_rate,
    )
    click.echo(json.dumps({"raw": signed.raw, "txid": signed.txid, "vout": signed.vout, "fee": signed.fee, "vsize": signed.vsize}))


@bitcoin.command()
@click.argument("receipt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@connection_options
@json_option
def refresh(config: BitcoinSettings, receipt_file: Path, as_json: bool) -> None:
    """Bring RECEIPT_FILE's confirmations and state up to date (the file is rewritten)."""
    receipt = _open(config).refresh(_load_receipt(receipt_file))
    _receipt_out(receipt, receipt_file, as_json)


@bitcoin.command()
@click.argument("receipt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--root", help="The root it must anchor (default: the receipt's own).")
@connection_options
@json_option
@click.pass_context
def verify(ctx: click.Context, config: BitcoinSettings, receipt_file: Path, root: str | None, as_json: bool) -> None:
    """Check on the node that RECEIPT_FILE's output carries the root, mined with enough
    confirmations. Exit 1 if not."""
    receipt = _load_receipt(receipt_file)
    expected = parse_bytes32(root, what="--root") if root else receipt.root
    _verdict_out(ctx, _reachable(config).verify(receipt, expected), as_json)


@bitcoin.command("verify-ots")
@click.argument("proof", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@connection_options
@json_option
@click.pass_context
def verify_ots_command(ctx: click.Context, config: BitcoinSettings, proof: Path, file: Path, as_json: bool) -> None:
    """Check that the OpenTimestamps PROOF (.ots) timestamps FILE in a block of the node's chain.
    Making or upgrading a proof needs the public calendars: `ots stamp`/`ots upgrade`, online."""
    ots = require_extra("provenance.anchors.bitcoin.ots")  # opentimestamps, python-bitcoinlib
    _verdict_out(ctx, ots.verify_ots(_reachable(config), proof.read_bytes(), file), as_json)


@bitcoin.group()
def node() -> None:
    """The embedded regtest node ($PROVENANCE_HOME/bitcoin-regtest, port $PROVENANCE_BITCOIN_PORT)."""


@node.command("start")
def node_start() -> None:
    """Start it (if not running) and mine until a coinbase is spendable."""
    local = bitcoin_node.default_node()
    local.ensure_running()
    click.echo(f"regtest node at {local.url}, height {local.rpc().call('getblockcount')}, cookie {local.cookie_file}")


@node.command("stop")
def node_stop() -> None:
    """Stop it by the PID recorded at start; its chain is kept for the next start."""
    click.echo("stopped" if bitcoin_node.default_node().stop() else "the regtest node was not started by this tool")


@node.command("mine")
@click.argument("blocks", type=click.IntRange(min=1, max=10_000), default=1)
def node_mine(blocks: int) -> None:
    """Mine BLOCKS blocks (regtest confirms nothing by itself)."""
    hashes = bitcoin_node.default_node().mine(blocks)
    click.echo(f"mined {len(hashes)} blocks, tip {hashes[-1]}")


@node.command("status")
@json_option
def node_status(as_json: bool) -> None:
    """Whether it answers, and its height."""
    local = bitcoin_node.default_node()
    info: dict[str, Any] = {"running": local.is_running(), "url": local.url, "datadir": str(local.datadir)}
    if info["running"]:
        info["blocks"] = local.rpc().call("getblockcount")
    _echo(info, as_json)


def _open(config: BitcoinSettings) -> BitcoinAnchor:
    """The backend, as the tracker would open it from the same settings (no blocks mined here)."""
    return open_backend("bitcoin", config, read_only=True)  # type: ignore[return-value]


def _reachable(config: BitcoinSettings) -> BitcoinAnchor:
    """A backend whose node answered: an unreachable node exits 3 (retry later), not 1."""
    backend = _open(config)
    backend.node()
    return backend


def _load_receipt(path: Path) -> Receipt:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: expected a JSON receipt, found invalid JSON ({e.__class__.__name__})") from None
    receipt = Receipt.from_json(data)
    if receipt.network != BitcoinAnchor.name:
        raise FormatError(f"{path}: expected a bitcoin receipt, found network {receipt.network!r}")
    return receipt


def _receipt_out(receipt: Receipt, out: Path | None, as_json: bool) -> None:
    if out is not None:
        atomic_write_json(out, receipt.to_json())
    if as_json:
        click.echo(json.dumps(receipt.to_json()))
        return
    loc = receipt.location
    click.echo(f"{receipt.state.value}: root 0x{receipt.root.hex()} in tx {loc.get('txid')} output {loc.get('vout')} on {loc.get('chain')}")
    click.echo(f"confirmations: {receipt.confirmations}" + (f" ({receipt.reason})" if receipt.reason else ""))


def _verdict_out(ctx: click.Context, verdict: Verdict, as_json: bool) -> None:
    click.echo(json.dumps(verdict.to_json()) if as_json else f"{'ok' if verdict.ok else 'FAILED'}: {verdict.detail}")
    if not verdict.ok:
        ctx.exit(EXIT_FAILED)


def _echo(info: dict[str, Any], as_json: bool) -> None:
    click.echo(json.dumps(info) if as_json else "\n".join(f"{k}: {v}" for k, v in info.items()))
