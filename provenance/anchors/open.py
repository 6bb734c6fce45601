"""The one place that turns a configuration section into an anchor backend: `open_backend`.

`Anchors.backend` calls it; so does anything else that needs a backend from a config (the CLI,
verification). It passes every setting of the section where it belongs:

- Ethereum: `network`, `contract_address`, `confirmations`, the timeouts, `gas_limit`,
  `gas_price`, the in-memory signer taken from a dict's `private_key` (`config.EthereumSection`),
  and `allow_start` / `allow_deploy` = not `read_only` (a read-only caller never starts the local
  chain nor deploys a contract).
- IPFS: `api_url` (the guide's `url`) and `timeout`.
- Bitcoin: the node settings; blocks that confirm an anchor are mined on the embedded regtest
  node only when not `read_only`.
- `retry_attempts` (every network): how many tries one delivery makes before the outbox entry is
  left pending. Implemented here, as a small wrapper: opening the backend and each `anchor` call
  are tried that many times while they raise `AnchorError` or return a `pending` receipt (a
  network that cannot be reached), with a short pause between tries; a `ConfigError`, a
  `submitted` or `failed` receipt is never retried (a sent transaction is not sent twice). With
  the default of 1, or IPFS without a node (nowhere to send), the backend is returned as is.
"""

from __future__ import annotations

import functools
import logging
import time
from decimal import Decimal
from typing import Any, Callable, Mapping, TypeVar

from .base import AnchorBackend
from ..record.receipts import AnchorState, Receipt
from ..errors import AnchorError, ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_PAUSE_S = 0.5  # doubled after each failed try, at most MAX_RETRY_PAUSE_S
MAX_RETRY_PAUSE_S = 5.0


def open_backend(network: str, config: Mapping[str, Any], *, read_only: bool = False) -> AnchorBackend:
    """The backend for `network` from `config` (as `load_config` returns it, or its `blockchain`
    section). `AnchorError` if the network cannot be reached; `ConfigError` for a setting that
    cannot work."""
    sections = config["blockchain"] if "blockchain" in config else config
    opener = OPENERS.get(network)
    if opener is None or network not in sections:
        raise ConfigError(f"anchor network {network!r}: expected one of {', '.join(OPENERS)}, found no such backend")
    section = sections[network]
    attempts = int(section.get("retry_attempts", 1))
    backend = _tried(attempts, f"opening {network}", lambda: opener(section, read_only))
    if network == "ipfs" and getattr(backend, "url", None) is None:
        attempts = 1  # the local store only: nothing to retry
    if attempts > 1:
        # An instance attribute shadows the method, so the backend keeps its own type (callers
        # check isinstance) and whatever calls `self.anchor` inside the backend is retried too.
        anchor = backend.anchor
        backend.anchor = functools.wraps(anchor)(  # type: ignore[method-assign]
            lambda *args, **kwargs: _tried(attempts, f"anchoring on {network}", lambda: anchor(*args, **kwargs))
        )
    return backend


def _tried(attempts: int, what: str, call: Callable[[], T]) -> T:
    pause = RETRY_PAUSE_S
    for attempt in range(1, attempts + 1):
        try:
            result = call()
        except AnchorError as e:
            if attempt == attempts:
                raise
            reason: Any = e
        else:
            if not (isinstance(result, Receipt) and result.state is AnchorState.PENDING) or attempt == attempts:
                return result
            reason = result.reason
        log.info("%s: try %d of %d failed, trying again in %.1f s: %s", what, attempt, attempts, pause, reason)
        time.sleep(pause)
        pause = min(pause * 2, MAX_RETRY_PAUSE_S)
    raise AssertionError("unreachable")  # attempts >= 1 is checked by the config


def _open_ethereum(section: Mapping[str, Any], read_only: bool) -> AnchorBackend:
    from .ethereum import backend as ethereum

    options: dict[str, Any] = {
        "contract_address": section["contract_address"],
        "confirmations": section["confirmations"],
        "request_timeout": section["request_timeout"],
        "receipt_timeout": section["receipt_timeout"],
        "signer": getattr(section, "signer", None),
        "gas_limit": section.get("gas_limit"),
        "gas_price": section.get("gas_price", "auto"),
        "allow_start": not read_only,
        "allow_deploy": not read_only,
    }
    return ethereum.connect(section["network"], **options)


def _open_ipfs(section: Mapping[str, Any], read_only: bool) -> AnchorBackend:
    from .ipfs import backend as ipfs

    # js-ipfs waits forever for an absent block unless told; keep its wait inside ours
    return ipfs.connect(section["api_url"], timeout=section["timeout"], fetch_timeout=section["timeout"] * 2 / 3)


def _open_bitcoin(section: Mapping[str, Any], read_only: bool) -> AnchorBackend:
    from .bitcoin import backend as bitcoin

    config = bitcoin.BitcoinConfig(
        url=section["rpc_url"] or bitcoin.LOCAL,
        chain=section["chain"],
        dialect=section["dialect"],
        confirmations=section["confirmations"],
        wallet=section["wallet"],
        max_fee_rate=Decimal(str(section["max_fee_rate"])),
        timeout=section["timeout"],
    )
    backend = bitcoin.connect(config)
    if config.url == bitcoin.LOCAL and section["mine_local_blocks"] and not read_only:
        from .bitcoin.node import default_node

        return bitcoin.MinedLocally(backend, default_node())
    return backend


OPENERS: dict[str, Callable[[Mapping[str, Any], bool], AnchorBackend]] = {
    "ethereum": _open_ethereum,
    "ipfs": _open_ipfs,
    "bitcoin": _open_bitcoin,
}
