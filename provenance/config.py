"""Tracker configuration: a dict or `configs/blockchain_config.json`, in the original system's
shape, merged over defaults and validated with one-line errors.

    {
      "blockchain": {
        "enabled": true,
        "networks": ["ethereum"],                 # which anchors to use, in order
        "ethereum": {"network": "local", ...},     # one section per network
        "ipfs": {...}, "bitcoin": {...}
      },
      "storage_options": {"store_before_training": true, "store_after_training": true,
                          "store_epoch_checkpoints": true}
    }

Keys never belong here: a key-like entry anywhere is refused with a message saying where keys go.
`ETH_RPC_URL` in the environment overrides `blockchain.ethereum.network`.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

NETWORKS = ("ethereum", "ipfs", "bitcoin")
SECRET_WORDS = ("private_key", "privatekey", "secret", "mnemonic", "password", "passphrase")

DEFAULTS: dict[str, Any] = {
    "blockchain": {
        "enabled": True,
        "networks": ["ethereum"],
        "ethereum": {
            "network": "local",  # 'local' (embedded anvil) or an http(s):// JSON-RPC URL
            "contract_address": None,
            "confirmations": 1,
            "request_timeout": 10.0,
            "receipt_timeout": 120.0,
            "batch": False,  # queue roots and anchor many at once with `provenance anchor --batch`
        },
        "ipfs": {"api_url": None, "timeout": 30.0},
        "bitcoin": {
            "rpc_url": None,  # None: the embedded regtest node; else http(s)://host:port (credentials from the environment)
            "chain": "regtest",
            "dialect": "auto",  # core | sv | auto
            "confirmations": 1,
            "wallet": None,
            "max_fee_rate": 0.001,  # BTC per kvB
            "timeout": 30.0,
            "mine_local_blocks": True,  # embedded regtest only: mine the blocks that confirm each anchor
        },
    },
    "storage_options": {
        "store_before_training": True,
        "store_after_training": True,
        "store_epoch_checkpoints": True,
    },
}

# Values whose default is None, and what they may be instead.
_OPTIONAL_TYPES: dict[str, type] = {
    "blockchain.ethereum.contract_address": str,
    "blockchain.ipfs.api_url": str,
    "blockchain.bitcoin.rpc_url": str,
    "blockchain.bitcoin.wallet": str,
}


def load_config(source: Mapping[str, Any] | str | Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The validated configuration: defaults, then `source` (a dict or a JSON file), then the
    environment. `None` reads `configs/blockchain_config.json` if it exists."""
    environ = os.environ if environ is None else environ
    if source is None:
        default_file = Path("configs/blockchain_config.json")
        source = default_file if default_file.is_file() else {}
    if isinstance(source, (str, Path)):
        source = _read_json(Path(source))
    if not isinstance(source, Mapping):
        raise ConfigError(f"config: expected a JSON object, found {type(source).__name__}")
    _refuse_secrets(source, "")
    config = copy.deepcopy(DEFAULTS)
    _merge(config, source, "")
    networks = config["blockchain"]["networks"]
    if not isinstance(networks, list) or not all(isinstance(n, str) for n in networks):
        raise ConfigError(f"config: blockchain.networks: expected a list of names, found {networks!r}")
    for name in networks:
        if name not in NETWORKS:
            raise ConfigError(f"config: blockchain.networks: unknown network {name!r}, expected one of {', '.join(NETWORKS)}")
    if len(set(networks)) != len(networks):
        raise ConfigError(f"config: blockchain.networks: expected each network once, found {networks}")
    if environ.get("ETH_RPC_URL"):
        config["blockchain"]["ethereum"]["network"] = environ["ETH_RPC_URL"]
    confirmations = config["blockchain"]["ethereum"]["confirmations"]
    if confirmations < 1:
        raise ConfigError(f"config: blockchain.ethereum.confirmations: expected at least 1, found {confirmations}")
    return config


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config: {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"config: {path}: expected JSON, found invalid JSON ({e.msg} at line {e.lineno})") from None


def _refuse_secrets(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if any(word in str(key).lower().replace("-", "_") for word in SECRET_WORDS):
                raise ConfigError(
                    f"config: {where!r} looks like a secret; keys belong in ETH_PRIVATE_KEY or an Ape keystore "
                    "account (PROVENANCE_ETH_ACCOUNT), RPC passwords in the environment, never in a config file"
                )
            _refuse_secrets(item, where)


def _merge(into: dict[str, Any], source: Mapping[str, Any], path: str) -> None:
    for key, value in source.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in into:
            raise ConfigError(f"config: unknown key {where!r}, expected one of {', '.join(sorted(into))}")
        default = into[key]
        if isinstance(default, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config: {where}: expected an object, found {type(value).__name__}")
            _merge(default, value, where)
        else:
            into[key] = _check_type(where, default, value)


def _check_type(where: str, default: Any, value: Any) -> Any:
    if default is None:
        expected = _OPTIONAL_TYPES[where]
        if value is None or isinstance(value, expected):
            return value
        raise ConfigError(f"config: {where}: expected {expected.__name__} or null, found {type(value).__name__}")
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(f"config: {where}: expected {type(default).__name__}, found {type(value).__name__} ({value!r:.40})")
    return value
