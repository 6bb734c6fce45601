"""Tracker configuration: a dict or a JSON file, in the original system's shape or ours, merged
over defaults and validated with one-line errors ("config: PATH: expected X, found Y").

Our shape (every key optional):

    {
      "blockchain": {
        "enabled": true, "networks": ["ethereum"], "debug": false,
        "ethereum": {"network": "local", "contract_address": null, "gas_limit": null, "gas_price": "auto",
                     "enabled": true, "retry_attempts": 1, "trusted_submitters": [], ...},
        "ipfs": {"api_url": null, "timeout": 30, "enabled": true, "retry_attempts": 1},
        "bitcoin": {"rpc_url": null, "chain": "regtest", ...}
      },
      "storage_options": {"store_before_training": true, "store_after_training": true,
                          "store_epoch_checkpoints": true},
      "epochs": null, "batch_size": null, "learning_rate": null, "hash_algorithm": "blake3"
    }

The original system's spellings are accepted as written and mean the same thing:

    blockchain.ethereum.rpc_url   -> blockchain.ethereum.network (an http(s) JSON-RPC URL)
    blockchain.ipfs.url           -> blockchain.ipfs.api_url
    blockchain.storage_options    -> storage_options
    ethereum / ipfs / bitcoin     -> blockchain.ethereum / .ipfs / .bitcoin (its "Best Practices" shape)
    <network>.enabled: false      -> the network is taken out of blockchain.networks
    <network>.retry_attempts: N   -> one delivery tries N times before the entry stays pending
                                     (`provenance.anchors.open.open_backend` wraps the backend's anchor)
    ethereum.gas_limit / gas_price -> passed to the transaction ("auto": the node's suggestion; an int: wei)
    blockchain.debug: true        -> DEBUG logging for the `provenance` loggers
    hash_algorithm                -> the content digest; only "blake3" is supported

One rule where two spellings name the same value: equal values are fine, different values are an
error naming both paths. Unknown keys are refused with the list of known ones.

Precedence: defaults < the file or dict < the environment (`ETH_RPC_URL` replaces
`blockchain.ethereum.network`; `ETH_PRIVATE_KEY` or `PROVENANCE_ETH_ACCOUNT` replace a key given
in a dict).

Keys: `blockchain.ethereum.private_key` (or the guide's `ethereum.private_key`) is the one field
that may hold a private key, and only in a dict held in memory: it is taken out of the returned
config into a `KeySigner` (`config["blockchain"]["ethereum"].signer`), which is not an item of the
dict, so it is never in the config's JSON or repr. In a config file that field may hold only the
guide's placeholder (`your_private_key_here`, counted as absent, with a warning) or a reference to
the environment (`"${ETH_PRIVATE_KEY}"`); a real key there is refused. Every other value and key
name of every config is screened (`refuse_secrets`): anything that looks like a private key is
refused with one line that never quotes it.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError
from .anchors.ethereum.keys import ACCOUNT_ENV, KEY_ENV, KeySigner, secret_kind

log = logging.getLogger(__name__)

NETWORKS = ("ethereum", "ipfs", "bitcoin")
HASH_ALGORITHMS = ("blake3",)
MAX_CONFIRMATIONS = 1000
MAX_SECONDS = 86_400.0
MAX_RETRY_ATTEMPTS = 100
SECRET_WORDS = ("private_key", "privatekey", "secret", "mnemonic", "password", "passphrase", "seed_phrase")
PLACEHOLDERS = ("your_private_key_here", "your_private_key", "")
KEY_PATHS = (("blockchain", "ethereum", "private_key"),)
_ENV_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")

DEFAULTS: dict[str, Any] = {
    "blockchain": {
        "enabled": True,
        "networks": ["ethereum"],
        "debug": False,  # DEBUG logging for the `provenance` loggers
        "ethereum": {
            "enabled": True,
            "network": "local",  # 'local' (embedded anvil) or an http(s):// JSON-RPC URL
            "contract_address": None,
            "confirmations": 1,
            "request_timeout": 10.0,
            "receipt_timeout": 120.0,
            "gas_limit": None,  # None: estimated by the node
            "gas_price": "auto",  # "auto": the node's suggestion; an int: wei
            "retry_attempts": 1,
            "trusted_submitters": [],  # 0x addresses; verification requires one of them when given
            "batch": False,  # queue roots and anchor many at once with `provenance anchor --batch`
        },
        "ipfs": {"enabled": True, "api_url": None, "timeout": 30.0, "retry_attempts": 1},
        "bitcoin": {
            "enabled": True,
            "rpc_url": None,  # None: the embedded regtest node; else http(s)://host:port (credentials from the environment)
            "chain": "regtest",
            "dialect": "auto",  # core | sv | auto
            "confirmations": 1,
            "wallet": None,
            "max_fee_rate": 0.001,  # BTC per kvB
            "timeout": 30.0,
            "retry_attempts": 1,
            "mine_local_blocks": True,  # embedded regtest only: mine the blocks that confirm each anchor
        },
    },
    "storage_options": {
        "store_before_training": True,
        "store_after_training": True,
        "store_epoch_checkpoints": True,
    },
    # The guide's training-config form: the run's hyper-parameters, kept with the config.
    "epochs": None,
    "batch_size": None,
    "learning_rate": None,
    "hash_algorithm": "blake3",
}

# Values whose default is None, and what they may be instead.
_OPTIONAL_TYPES: dict[str, tuple[type, ...]] = {
    "blockchain.ethereum.contract_address": (str,),
    "blockchain.ethereum.gas_limit": (int,),
    "blockchain.ipfs.api_url": (str,),
    "blockchain.bitcoin.rpc_url": (str,),
    "blockchain.bitcoin.wallet": (str,),
    "epochs": (int,),
    "batch_size": (int,),
    "learning_rate": (int, float),
}

# The original system's spellings: a prefix rewrite (its top-level network sections and
# `blockchain.storage_options`), then a leaf rename.
_PREFIX_ALIASES: dict[tuple[str, ...], tuple[str, ...]] = {
    **{(network,): ("blockchain", network) for network in NETWORKS},
    ("blockchain", "storage_options"): ("storage_options",),
}
_LEAF_ALIASES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("blockchain", "ethereum", "rpc_url"): ("blockchain", "ethereum", "network"),
    ("blockchain", "ipfs", "url"): ("blockchain", "ipfs", "api_url"),
}


class EthereumSection(dict):  # type: ignore[type-arg]
    """The `blockchain.ethereum` section. `signer` holds the key given in a dict in memory; it is
    an attribute, not an item, so the section's JSON and repr never carry it."""

    signer: KeySigner | None = None


def load_config(source: Mapping[str, Any] | str | Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The validated configuration: defaults, then `source` (a dict or a JSON file), then the
    environment. `None` reads `configs/blockchain_config.json` if it exists."""
    environ = os.environ if environ is None else environ
    if source is None:
        default_file = Path("configs/blockchain_config.json")
        source = default_file if default_file.is_file() else {}
    from_file = isinstance(source, (str, Path))
    if from_file:
        refuse_secrets(str(source), "config file name")
        source = _read_json(Path(source))
    if not isinstance(source, Mapping):
        raise ConfigError(f"config: expected a JSON object, found {type(source).__name__}")

    given, keys = _flatten(source, from_file)
    config = copy.deepcopy(DEFAULTS)
    for path, (_, value) in given.items():
        _set(config, path, value)
    config["blockchain"]["ethereum"] = section = EthereumSection(config["blockchain"]["ethereum"])
    section.signer = _signer(keys, from_file, environ)
    # a config loaded once and passed again keeps its in-memory signer
    previous = source.get("blockchain", {}).get("ethereum") if isinstance(source.get("blockchain"), Mapping) else None
    if section.signer is None and isinstance(previous, EthereumSection) and not _key_in_environment(environ):
        section.signer = previous.signer

    if environ.get("ETH_RPC_URL"):
        refuse_secrets(environ["ETH_RPC_URL"], "$ETH_RPC_URL")
        config["blockchain"]["ethereum"]["network"] = environ["ETH_RPC_URL"]
    _validate(config)
    blockchain = config["blockchain"]
    blockchain["networks"] = [n for n in blockchain["networks"] if blockchain[n]["enabled"]]
    if blockchain["debug"]:
        _debug_logging()
    return config


def refuse_secrets(value: Any, where: str) -> None:
    """Raise `ConfigError` if anything inside `value` (strings, dict keys, lists, bytes) looks like
    a private key. The message names the path and the kind of key, never the value."""
    _screen(value, where, "")


def _screen(value: Any, where: str, path: str) -> None:
    at = f"{where}: {path}" if path else where
    if isinstance(value, str):
        kind = secret_kind(value)
        if kind:
            raise ConfigError(
                f"{at}: expected no private key, found what looks like a {kind} (not shown); keys belong in "
                f"{KEY_ENV} or an Ape keystore account ({ACCOUNT_ENV}), never in a config"
            )
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if len(data) == 32:
            raise ConfigError(f"{at}: expected no private key, found 32 raw bytes (not shown); keys belong in {KEY_ENV}")
        _screen(data.decode("latin-1"), where, path)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _screen(key, where, f"{path} (a key name)" if path else "a key name")
            _screen(item, where, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            _screen(item, where, f"{path}[{index}]")


# ---------------------------------------------------------------- reading and merging


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config: {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config: {path}: expected a JSON file, found a directory") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config: {path}: expected UTF-8 JSON, found undecodable bytes") from None
    except OSError as e:
        raise ConfigError(f"config: {path}: expected a readable file, found {e.strerror or type(e).__name__}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"config: {path}: expected JSON, found invalid JSON ({e.msg} at line {e.lineno})") from None


def _canonical(path: tuple[str, ...]) -> tuple[str, ...]:
    for prefix, target in _PREFIX_ALIASES.items():
        if path[: len(prefix)] == prefix:
            path = target + path[len(prefix):]
            break
    return _LEAF_ALIASES.get(path, path)


def _known_keys(canonical_parent: tuple[str, ...], node: Mapping[str, Any]) -> list[str]:
    known = set(node)
    known |= {p[-1] for p in _PREFIX_ALIASES if _canonical(p[:-1]) == canonical_parent}
    known |= {p[-1] for p in _LEAF_ALIASES if p[:-1] == canonical_parent}
    if canonical_parent + ("private_key",) in KEY_PATHS:
        known.add("private_key")
    return sorted(known)


def _flatten(source: Mapping[str, Any], from_file: bool) -> tuple[dict[tuple[str, ...], tuple[str, Any]], list[tuple[str, Any]]]:
    """Every leaf value of `source` under its canonical path (with the path it was given at), and
    the private-key fields apart. Refuses unknown keys, secrets and conflicting spellings."""
    given: dict[tuple[str, ...], tuple[str, Any]] = {}
    keys: list[tuple[str, Any]] = []

    def walk(node: Mapping[str, Any], written: tuple[str, ...], canonical: tuple[str, ...]) -> None:
        for key, value in node.items():
            where = ".".join(written + (str(key),))
            refuse_secrets(key, f"config: {'.'.join(written) or 'top level'} (a key name)")
            if not isinstance(key, str):
                raise ConfigError(f"config: {where}: expected a string key, found {type(key).__name__}")
            path = _canonical(canonical + (key,))
            if path in KEY_PATHS:
                keys.append((where, value))
                continue
            if any(word in key.lower().replace("-", "_") for word in SECRET_WORDS):
                raise ConfigError(
                    f"config: {where!r} looks like a secret; keys belong in {KEY_ENV} or an Ape keystore "
                    f"account ({ACCOUNT_ENV}), RPC passwords in the environment, never in a config file"
                )
            default: Any = DEFAULTS
            for part in path:
                if not isinstance(default, Mapping) or part not in default:
                    parent = _lookup(path[:-1])
                    raise ConfigError(
                        f"config: unknown key {where!r}, expected one of {', '.join(_known_keys(path[:-1], parent))}"
                    )
                default = default[part]
            if isinstance(default, dict):
                if not isinstance(value, Mapping):
                    raise ConfigError(f"config: {where}: expected an object, found {type(value).__name__} ({_describe(value)})")
                walk(value, written + (key,), path)
                continue
            refuse_secrets(value, f"config: {where}")
            if path in given and not _same(given[path][1], value):
                raise ConfigError(
                    f"config: {given[path][0]} and {where} name the same setting: expected equal values, "
                    f"found {_describe(given[path][1])} and {_describe(value)}"
                )
            given[path] = (where, value)

    walk(source, (), ())
    if len(keys) > 1 and not all(_same(keys[0][1], v) for _, v in keys[1:]):
        raise ConfigError(
            f"config: {keys[0][0]} and {keys[1][0]} name the same setting: expected equal values, found two different keys (not shown)"
        )
    return given, keys


def _lookup(path: tuple[str, ...]) -> Mapping[str, Any]:
    node: Any = DEFAULTS
    for part in path:
        node = node[part]
    return node


def _set(config: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = config
    for part in path[:-1]:
        node = node[part]
    where = ".".join(path)
    node[path[-1]] = _check_type(where, _lookup(path[:-1])[path[-1]], value)


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _describe(value: Any) -> str:
    """A value for an error message, without quoting anything long (it may be a mistyped key)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 24 else f"a {len(value)}-character string"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value) if not isinstance(value, int) or abs(value) < 10**24 else f"a {len(str(value))}-digit number"
    return type(value).__name__


def _check_type(where: str, default: Any, value: Any) -> Any:
    if where == "blockchain.ethereum.gas_price":
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise ConfigError(f"config: {where}: expected \"auto\" or an integer (wei), found {_describe(value)}")
    if default is None:
        expected = _OPTIONAL_TYPES[where]
        if value is None or (isinstance(value, expected) and not isinstance(value, bool)):
            return float(value) if float in expected and value is not None else value
        names = " or ".join("number" if t is float else t.__name__ for t in expected if not (t is int and float in expected))
        raise ConfigError(f"config: {where}: expected {names} or null, found {type(value).__name__} ({_describe(value)})")
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
        raise ConfigError(f"config: {where}: expected {type(default).__name__}, found {type(value).__name__} ({_describe(value)})")
    return value


# ---------------------------------------------------------------- validation


def _validate(config: dict[str, Any]) -> None:
    blockchain = config["blockchain"]
    networks = blockchain["networks"]
    if not all(isinstance(n, str) for n in networks):
        raise ConfigError(f"config: blockchain.networks: expected a list of names, found {[_describe(n) for n in networks]}")
    for name in networks:
        if name not in NETWORKS:
            raise ConfigError(f"config: blockchain.networks: unknown network {name!r}, expected one of {', '.join(NETWORKS)}")
    if len(set(networks)) != len(networks):
        raise ConfigError(f"config: blockchain.networks: expected each network once, found {networks}")
    for network in ("ethereum", "bitcoin"):
        confirmations = blockchain[network]["confirmations"]
        if not 1 <= confirmations <= MAX_CONFIRMATIONS:
            raise ConfigError(f"config: blockchain.{network}.confirmations: expected 1..{MAX_CONFIRMATIONS}, found {confirmations}")
    for network in NETWORKS:
        attempts = blockchain[network]["retry_attempts"]
        if not 1 <= attempts <= MAX_RETRY_ATTEMPTS:
            raise ConfigError(f"config: blockchain.{network}.retry_attempts: expected 1..{MAX_RETRY_ATTEMPTS}, found {attempts}")
    ethereum = blockchain["ethereum"]
    network = ethereum["network"]
    if network != "local" and not _is_url(network):
        raise ConfigError(
            f"config: blockchain.ethereum.network (or rpc_url): expected 'local' or an http(s):// JSON-RPC URL, found {_describe(network)}"
        )
    address = ethereum["contract_address"]
    if address is not None:
        ethereum["contract_address"] = _address(address, "blockchain.ethereum.contract_address")
    submitters = ethereum["trusted_submitters"]
    ethereum["trusted_submitters"] = [
        _address(a, f"blockchain.ethereum.trusted_submitters[{i}]") for i, a in enumerate(submitters)
    ]
    if ethereum["gas_limit"] is not None and not 21_000 <= ethereum["gas_limit"] <= 30_000_000:
        raise ConfigError(f"config: blockchain.ethereum.gas_limit: expected 21000..30000000 or null, found {_describe(ethereum['gas_limit'])}")
    if isinstance(ethereum["gas_price"], int) and not 0 < ethereum["gas_price"] < 10**24:
        raise ConfigError(f"config: blockchain.ethereum.gas_price: expected \"auto\" or a positive number of wei, found {_describe(ethereum['gas_price'])}")
    for key in ("ipfs.api_url", "bitcoin.rpc_url"):
        net, name = key.split(".")
        url = blockchain[net][name]
        if url is not None and not _is_url(url) and not (net == "bitcoin" and url == "local"):
            raise ConfigError(f"config: blockchain.{key}: expected an http(s):// URL or null, found {_describe(url)}")
    for key in ("epochs", "batch_size"):
        if config[key] is not None and config[key] < 1:
            raise ConfigError(f"config: {key}: expected a positive integer or null, found {_describe(config[key])}")
    rate = config["learning_rate"]
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise ConfigError(f"config: learning_rate: expected a positive finite number or null, found {_describe(rate)}")
    if config["hash_algorithm"] not in HASH_ALGORITHMS:
        raise ConfigError(
            f"config: hash_algorithm: expected one of {', '.join(HASH_ALGORITHMS)} (the supported list), found {_describe(config['hash_algorithm'])}"
        )
    _check_numbers(config, "")


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://")) and len(text) > len("https://")


def _address(value: Any, where: str) -> str:
    from eth_utils import is_checksum_address, to_checksum_address

    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise ConfigError(f"config: {where}: expected a 20-byte 0x address (0x + 40 hex digits), found {_describe(value)}")
    if value != value.lower() and value[2:] != value[2:].upper() and not is_checksum_address(value):
        raise ConfigError(f"config: {where}: expected a valid EIP-55 checksum (or all one case), found a mixed-case address that fails it")
    return to_checksum_address(value)


def _check_numbers(value: Any, path: str) -> None:
    """Timeouts and fee rates must be finite and positive (JSON allows `Infinity` and `1e400`)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, float) and path != "learning_rate" and not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise ConfigError(f"config: {path}: expected a positive finite number up to {MAX_SECONDS:g}, found {value!r}")


# ---------------------------------------------------------------- keys and logging


def _key_in_environment(environ: Mapping[str, str]) -> bool:
    return bool(environ.get(KEY_ENV) or environ.get(ACCOUNT_ENV))


def _signer(keys: list[tuple[str, Any]], from_file: bool, environ: Mapping[str, str]) -> KeySigner | None:
    """The in-memory signer from a `private_key` field, or None. The environment wins over it."""
    if not keys:
        return None
    where, value = keys[0]
    if value is None:
        return None
    if _key_in_environment(environ):  # the environment wins; connect() reads and checks it
        log.debug("config: %s is overridden by the environment (%s / %s)", where, KEY_ENV, ACCOUNT_ENV)
        return None
    if not isinstance(value, str):
        raise ConfigError(f"config: {where}: expected a hex private key string or null, found {type(value).__name__}")
    text = value.strip()
    if text.lower() in PLACEHOLDERS:
        log.warning("config: %s holds a placeholder, not a key: no key taken from the config (set %s or %s)",
                    where, KEY_ENV, ACCOUNT_ENV)
        return None
    reference = _ENV_REFERENCE.fullmatch(text)
    if reference:
        name = reference.group(1) or reference.group(2)
        text = environ.get(name, "")
        if not text:  # the usual case: no key in the environment, so none from the config either
            log.debug("config: %s names $%s, which is not set: no key taken from the config", where, name)
            return None
        source = f"${name}"
    elif from_file:
        raise ConfigError(
            f"config: {where}: expected no private key in a config file, found one (not shown): it looks like a secret; "
            f"keys belong in {KEY_ENV} or an Ape keystore account ({ACCOUNT_ENV}), or write \"${{{KEY_ENV}}}\" here"
        )
    else:
        source = "the config dict"
    return KeySigner.from_hex(text, f"config: {where}" + (f" (from {source})" if source.startswith("$") else ""), source)


def _debug_logging() -> None:
    """`blockchain.debug`: DEBUG for the `provenance` loggers, with a stderr handler if nothing
    else would show them."""
    logger = logging.getLogger("provenance")
    logger.setLevel(logging.DEBUG)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
