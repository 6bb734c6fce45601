"""The configuration: one typed model (pydantic) per anchor network plus the run's own part, read
with one precedence by every entry point (the tracker, every `provenance` command, the outbox):

    defaults  <  config file or dict  <  environment  <  command-line flags

`load_settings` returns the typed `ProvenanceConfig`; `load_config` returns the same as the dict
the API has always handed out (`ProvenanceTracker(config=dict|path)`, `BlockchainManager`): a
dict is validated into the models, never read by string keys past this module.

Our shape (every key optional):

    {
      "blockchain": {
        "enabled": true, "networks": ["ethereum"], "debug": false,
        "ethereum": {"network": "local", "contract_address": null, "gas_limit": null, "gas_price": "auto",
                     "enabled": true, "retry_attempts": 1, "trusted_submitters": [], "account": null, ...},
        "ipfs": {"api_url": null, "timeout": 30, "enabled": true, "retry_attempts": 1},
        "bitcoin": {"rpc_url": null, "chain": "regtest", ...}
      },
      "storage_options": {"store_before_training": true, "store_after_training": true,
                          "store_epoch_checkpoints": true},
      "epochs": null, "batch_size": null, "learning_rate": null, "hash_algorithm": "blake3"
    }

The models and their environment variables live beside each backend (`anchors/<network>/settings.py`):
`PROVENANCE_ETHEREUM_NETWORK` (or `ETH_RPC_URL`), `PROVENANCE_ETHEREUM_CONTRACT_ADDRESS`, ...,
`PROVENANCE_ETH_ACCOUNT` (an Ape account alias); `PROVENANCE_IPFS_API_URL` (or `PROVENANCE_IPFS_URL`),
`PROVENANCE_IPFS_TIMEOUT`; `PROVENANCE_BITCOIN_RPC_URL` (or `BITCOIN_RPC_URL`), `PROVENANCE_BITCOIN_CHAIN`,
`_DIALECT`, `_CONFIRMATIONS`, `_WALLET`, `_MAX_FEE_RATE`, `_TIMEOUT`; `PROVENANCE_NETWORKS` (comma-separated).

The original system's spellings are accepted as written and mean the same thing:

    blockchain.ethereum.rpc_url   -> blockchain.ethereum.network (an http(s) JSON-RPC URL)
    blockchain.ipfs.url           -> blockchain.ipfs.api_url
    blockchain.storage_options    -> storage_options
    ethereum / ipfs / bitcoin     -> blockchain.ethereum / .ipfs / .bitcoin (its "Best Practices" shape)
    <network>.enabled: false      -> the network is taken out of blockchain.networks
    <network>.enabled: true       -> the network joins the default networks (when blockchain.networks is not given)
    <network>.retry_attempts: N   -> one delivery tries N times before the entry stays pending
                                     (`provenance.anchors.open.open_backend` wraps the backend's anchor)
    ethereum.gas_limit / gas_price -> passed to the transaction ("auto": the node's suggestion; an int: wei)
    blockchain.debug: true        -> DEBUG logging for the `provenance` loggers
    hash_algorithm                -> the content digest; only "blake3" is supported

One rule where two spellings name the same value: equal values are fine, different values are an
error naming both paths. Unknown keys are refused with the list of known ones. Every error is one
line, "WHERE: expected X, found Y", WHERE being the config path, the environment variable or the flag.

Keys: `blockchain.ethereum.private_key` (or the guide's `ethereum.private_key`) is the one field
that may hold a private key, and only in a dict held in memory: it is taken out of the config into
a `KeySigner` (`EthereumSettings.signer`, a private attribute; in the dict form
`config["blockchain"]["ethereum"].signer`), never in the config's JSON or repr. In a config file
that field may hold only the guide's placeholder (`your_private_key_here`, counted as absent, with
a warning) or a reference to the environment (`"${ETH_PRIVATE_KEY}"`); a real key there is
refused. `ETH_PRIVATE_KEY` or an account alias from the environment or a flag wins over a dict's
key. Every other value and key name of every config, and every environment value read, is screened
(`refuse_secrets`): anything that looks like a private key is refused with one line that never quotes it.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from ..errors import ConfigError
from ..files import read_json
from ..anchors.ethereum.keys import KEY_ENV
from ..anchors.settings import validation_line
from .models import DEFAULTS, HASH_ALGORITHMS, NETWORKS, SECTIONS, BlockchainSettings, EthereumSection, ProvenanceConfig, StorageOptions  # noqa: F401 - the models' public home stays provenance.config
from .reading import KEY_PATHS, SECRET_WORDS, _flatten, refuse_secrets  # noqa: F401
from .keys import _key_in_environment, _signer

log = logging.getLogger(__name__)

DEFAULT_FILE = Path("configs/blockchain_config.json")


Flags = Mapping[str, tuple[str, Any]]
"""Command-line values: {"blockchain.bitcoin.chain": ("--chain", value)}; a None value is not given."""


def load_settings(
    source: ProvenanceConfig | Mapping[str, Any] | str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Flags | None = None,
) -> ProvenanceConfig:
    """The typed configuration: defaults, then `source` (a dict, a JSON file, or a config already
    loaded), then the environment, then `flags`. `None` reads `configs/blockchain_config.json` if
    it exists. `ConfigError` (one line) for anything that cannot work."""
    if isinstance(source, ProvenanceConfig):
        if not flags:
            return source  # loaded already: the environment is not applied twice (it would undo flags)
        source = source.as_dict()
    environ = os.environ if environ is None else environ
    if source is None:
        source = DEFAULT_FILE if DEFAULT_FILE.is_file() else {}
    from_file = isinstance(source, (str, Path))
    if from_file:
        refuse_secrets(str(source), "config file name")
        source = _read_json(Path(source))
    if not isinstance(source, Mapping):
        raise ConfigError(f"config: expected a JSON object, found {type(source).__name__}")

    given, keys = _flatten(source, from_file)
    values: dict[tuple[str, ...], Any] = {path: value for path, (_, value) in given.items()}
    origins = _overlay(values, environ, flags)
    _switch_on_enabled(values)
    nested: dict[str, Any] = {}
    for path, value in values.items():
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    try:
        config = ProvenanceConfig.model_validate(nested, strict=True)
    except ValidationError as e:
        raise ConfigError(_named(validation_line(e, ProvenanceConfig, origins))) from None

    ethereum = config.blockchain.ethereum
    ethereum.use_signer(_signer(keys, from_file, environ) if ethereum.account is None else None)
    # a config loaded once and passed again keeps its in-memory signer
    previous = source.get("blockchain", {}).get("ethereum") if isinstance(source.get("blockchain"), Mapping) else None
    if ethereum.signer is None and isinstance(previous, EthereumSection) and not _key_in_environment(environ) and ethereum.account is None:
        ethereum.use_signer(previous.signer)
    blockchain = config.blockchain
    blockchain.networks = [n for n in blockchain.networks if blockchain.section(n).enabled]
    if blockchain.debug:
        _debug_logging()
    return config



def _overlay(values: dict[tuple[str, ...], Any], environ: Mapping[str, str], flags: Flags | None) -> dict[tuple[str, ...], str]:
    """The environment, then the flags, written over `values` (in place); returns where each
    value so set came from ("$PROVENANCE_BITCOIN_CHAIN", "--chain")."""
    origins: dict[tuple[str, ...], str] = {}
    for prefix, model in SECTIONS.items():
        for field, (where, value) in model.from_environment(environ).items():
            refuse_secrets(value, where)
            values[prefix + (field,)] = value
            origins[prefix + (field,)] = where
    for dotted_path, (flag, value) in (flags or {}).items():
        if value is None:
            continue
        path = tuple(dotted_path.split("."))
        refuse_secrets(value, flag)
        values[path] = SECTIONS[path[:-1]].from_text(path[-1], value, flag)
        origins[path] = flag
    account = ("blockchain", "ethereum", "account")
    if account in values and not origins.get(account, "").startswith("--") and environ.get(KEY_ENV):
        del values[account]  # $ETH_PRIVATE_KEY wins over an alias from the file or the environment, not over --account
    return origins

def _switch_on_enabled(values: dict[tuple[str, ...], Any]) -> None:
    """The guide's `{"ipfs": {"enabled": true, ...}}` turns IPFS on: a network whose `enabled` is
    given as true joins the default networks, unless `blockchain.networks` is given (that list
    then rules, as in the guide's full file and ours, where `ipfs.enabled: true` sits beside
    `networks: ["ethereum"]`)."""
    if ("blockchain", "networks") in values:
        return
    switched_on = [n for n in NETWORKS if values.get(("blockchain", n, "enabled")) is True]
    default = list(BlockchainSettings.model_fields["networks"].default)
    if any(n not in default for n in switched_on):
        values[("blockchain", "networks")] = default + [n for n in switched_on if n not in default]


def load_config(
    source: ProvenanceConfig | Mapping[str, Any] | str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Flags | None = None,
) -> dict[str, Any]:
    """`load_settings` in the dict form of the API (`ProvenanceTracker.config`)."""
    return load_settings(source, environ, flags).as_dict()


def _named(message: str) -> str:
    """The guide's name beside ours where the two differ (`network (or rpc_url)`)."""
    return message.replace("config: blockchain.ethereum.network:", "config: blockchain.ethereum.network (or rpc_url):")


# ---------------------------------------------------------------- reading and merging


def _read_json(path: Path) -> Any:
    if not os.path.lexists(path):
        raise ConfigError(f"config: {path} does not exist")
    return read_json(path, "config:", error=ConfigError, max_bytes=1 << 20)


# ---------------------------------------------------------------- keys and logging


def _debug_logging() -> None:
    """`blockchain.debug`: DEBUG for the `provenance` loggers, with a stderr handler if nothing
    else would show them."""
    logger = logging.getLogger("provenance")
    logger.setLevel(logging.DEBUG)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
