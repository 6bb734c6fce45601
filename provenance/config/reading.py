"""Reading a config mapping: the original system's spellings rewritten, the nesting flattened to
config paths, unknown keys and secrets refused."""

from __future__ import annotations

from typing import Any, Mapping

from ..anchors.ethereum.keys import ACCOUNT_ENV, KEY_ENV
from ..anchors.settings import describe
from ..errors import ConfigError
from ..secrets import secret_kind
from .models import DEFAULTS, NETWORKS

SECRET_WORDS = ("private_key", "privatekey", "secret", "mnemonic", "password", "passphrase", "seed_phrase")


KEY_PATHS = (("blockchain", "ethereum", "private_key"),)


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
