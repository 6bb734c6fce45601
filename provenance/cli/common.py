"""Options and helpers shared by the `provenance` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

from ..errors import ConfigError
from ..files import RECORD_FILE


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of text.")
submitter_option = click.option(
    "--submitter", "submitters", multiple=True, metavar="ADDRESS",
    help="An Ethereum address you trust to anchor runs (repeatable; also the config's "
         "blockchain.ethereum.trusted_submitters): fails unless the run's identity is one of them.")
config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Tracker config JSON (default: configs/blockchain_config.json if present, else built-in defaults).",
)
network_option = click.option(
    "--network", "eth_network", metavar="NETWORK", default=None,
    help="Ethereum network: Ape's ecosystem:network:provider (ethereum:local:foundry, ethereum:sepolia:node), "
         "'local' or an http(s) JSON-RPC URL. [$PROVENANCE_ETHEREUM_NETWORK, $ETH_RPC_URL; config "
         "blockchain.ethereum.network; local]",
)
account_option = click.option(
    "--account", "eth_account", metavar="ALIAS", default=None,
    help="Sign with this Ape keystore account (ape accounts import ALIAS) from your Ape data folder; "
         "passphrase from $APE_ACCOUNTS_<ALIAS>_PASSPHRASE or a prompt. [$PROVENANCE_ETH_ACCOUNT]",
)


def ethereum_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--network` and `--account` (Ape's spellings) for a command that talks to Ethereum."""
    return network_option(account_option(command))


def load_settings_for(config_path: Path | None, flags: dict[str, tuple[str, Any]] | None = None) -> Any:
    """The typed configuration with the one precedence: defaults < `--config` file (or the
    repo's configs/blockchain_config.json) < environment < `flags` ({"blockchain.x.y": (flag, value)})."""
    from ..config import load_settings

    return load_settings(config_path, flags=flags)


def ethereum_flags(eth_network: str | None, eth_account: str | None) -> dict[str, tuple[str, Any]]:
    return {"blockchain.ethereum.network": ("--network", eth_network), "blockchain.ethereum.account": ("--account", eth_account)}


base_dir_option = click.option(
    "--base-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("artifacts"), show_default=True,
    help="Folder holding run folders.",
)


def resolve_run(run: str, base_dir: Path) -> Path:
    """A run folder from a path, a run id under `base_dir`, or `latest`."""
    if run == "latest":
        runs = sorted((p for p in base_dir.glob("*/" + RECORD_FILE)), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise ConfigError(f"no runs under {base_dir}: expected at least one run folder with {RECORD_FILE}")
        return runs[-1].parent
    for candidate in (Path(run), base_dir / run):
        if (candidate / RECORD_FILE).is_file():
            return candidate
    raise ConfigError(f"run {run!r}: expected a run folder with {RECORD_FILE} (as a path or under {base_dir}), found none")


def emit(as_json: bool, data: Any, text: Callable[[], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text())


def parse_leaf_ref(value: str) -> tuple[str, str]:
    kind, sep, name = value.partition(":")
    if not sep or not kind or not name:
        raise ConfigError(f"--leaf: expected KIND:NAME such as data.sample:train/000123, found {value!r}")
    return kind, name
