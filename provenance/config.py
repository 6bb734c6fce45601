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
import re
import sys
from pathlib import Path
from typing import Any, ClassVar, Mapping

from pydantic import Field, ValidationError, field_validator

from .errors import ConfigError
from .files import read_json
from .anchors.bitcoin.settings import BitcoinSettings
from .anchors.ethereum.keys import ACCOUNT_ENV, KEY_ENV, KeySigner
from .secrets import secret_kind
from .anchors.ethereum.settings import EthereumSettings
from .anchors.ipfs.settings import IpfsSettings
from .anchors.registry import specs as network_specs
from .anchors.settings import Section, describe, problem, validation_line

log = logging.getLogger(__name__)

NETWORKS = tuple(network_specs())  # the built-in networks (anchors/registry.py), in order
HASH_ALGORITHMS = ("blake3",)
SECRET_WORDS = ("private_key", "privatekey", "secret", "mnemonic", "password", "passphrase", "seed_phrase")
PLACEHOLDERS = ("your_private_key_here", "your_private_key", "")
KEY_PATHS = (("blockchain", "ethereum", "private_key"),)
DEFAULT_FILE = Path("configs/blockchain_config.json")
_ENV_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


class BlockchainSettings(Section):
    """`blockchain`: which networks anchor, and each one's settings."""

    enabled: bool = True  # false: anchoring off, no network is used
    networks: list[str] = ["ethereum"]  # the networks anchored to, in order: ethereum, ipfs, bitcoin
    debug: bool = False  # DEBUG logging for the `provenance` loggers
    ethereum: EthereumSettings = Field(default_factory=EthereumSettings)
    ipfs: IpfsSettings = Field(default_factory=IpfsSettings)
    bitcoin: BitcoinSettings = Field(default_factory=BitcoinSettings)

    ENV: ClassVar = {"networks": ("PROVENANCE_NETWORKS",)}

    @field_validator("networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in NETWORKS:
                raise problem(f"unknown network {name!r}, expected one of {', '.join(NETWORKS)}")
        if len(set(value)) != len(value):
            raise problem(f"expected each network once, found {value}")
        return value

    def section(self, network: str) -> Section:
        if network not in NETWORKS:
            raise ConfigError(f"anchor network {network!r}: expected one of {', '.join(NETWORKS)}, found no such backend")
        return getattr(self, network)


class StorageOptions(Section):
    """`storage_options`: which stages are anchored."""

    store_before_training: bool = True  # anchor the pre-training tree
    store_after_training: bool = True  # anchor the post-training tree
    store_epoch_checkpoints: bool = True  # build and anchor a tree after every epoch (false: none)


class ProvenanceConfig(Section):
    """The whole configuration: the anchor networks, what to anchor, and the guide's training-config
    form (the run's hyper-parameters, kept with the config)."""

    blockchain: BlockchainSettings = Field(default_factory=BlockchainSettings)
    storage_options: StorageOptions = Field(default_factory=StorageOptions)
    epochs: int | None = None  # the guide's training-config form, kept with the config
    batch_size: int | None = None  # the guide's training-config form, kept with the config
    learning_rate: float | None = None  # the guide's training-config form, kept with the config
    hash_algorithm: str = "blake3"  # the content digest; blake3 is the only one supported

    @field_validator("epochs", "batch_size")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise problem(f"expected a positive integer or null, found {describe(value)}")
        return value

    @field_validator("learning_rate")
    @classmethod
    def _rate(cls, value: float | None) -> float | None:
        if value is not None and not (value == value and abs(value) != float("inf") and value > 0):
            raise problem(f"expected a positive finite number or null, found {describe(value)}")
        return value

    @field_validator("hash_algorithm")
    @classmethod
    def _algorithm(cls, value: str) -> str:
        if value not in HASH_ALGORITHMS:
            raise problem(f"expected one of {', '.join(HASH_ALGORITHMS)} (the supported list), found {describe(value)}")
        return value

    @property
    def networks(self) -> list[str]:
        """The networks anchoring is on for (none when `blockchain.enabled` is false)."""
        return list(self.blockchain.networks) if self.blockchain.enabled else []

    def as_dict(self) -> dict[str, Any]:
        """The dict form the API has always handed out; `["blockchain"]["ethereum"].signer` keeps
        the in-memory key, which no dump carries."""
        data = self.model_dump()
        data["blockchain"]["ethereum"] = section = EthereumSection(data["blockchain"]["ethereum"])
        section.signer = self.blockchain.ethereum.signer
        return data


class EthereumSection(dict):  # type: ignore[type-arg]
    """The dict form of `blockchain.ethereum`. `signer` holds the key given in a dict in memory; it
    is an attribute, not an item, so the section's JSON and repr never carry it."""

    signer: KeySigner | None = None


# The settings models by config path, and the environment they read.
SECTIONS: dict[tuple[str, ...], type[Section]] = {
    (): ProvenanceConfig,
    ("blockchain",): BlockchainSettings,
    **{("blockchain", name): spec.settings for name, spec in network_specs().items()},
    ("storage_options",): StorageOptions,
}
DEFAULTS: dict[str, Any] = ProvenanceConfig().model_dump()

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
    if not os.path.lexists(path):
        raise ConfigError(f"config: {path} does not exist")
    return read_json(path, "config:", error=ConfigError, max_bytes=1 << 20)


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
                    raise ConfigError(f"config: {where}: expected an object, found {type(value).__name__} ({describe(value)})")
                walk(value, written + (key,), path)
                continue
            refuse_secrets(value, f"config: {where}")
            if path in given and not _same(given[path][1], value):
                raise ConfigError(
                    f"config: {given[path][0]} and {where} name the same setting: expected equal values, "
                    f"found {describe(given[path][1])} and {describe(value)}"
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


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


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
