"""The Ethereum key a configuration may name: from the environment only (a key in a file is
refused), or an in-memory signer handed over in a dict."""

from __future__ import annotations

import logging
import re
from typing import Any, Mapping

from ..anchors.ethereum.keys import ACCOUNT_ENV, KEY_ENV, KeySigner
from ..errors import ConfigError

log = logging.getLogger("provenance.config")  # the package's logger, as before the split


PLACEHOLDERS = ("your_private_key_here", "your_private_key", "")


_ENV_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


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
