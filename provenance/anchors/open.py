"""The one place that turns a configuration section into an anchor backend: `open_backend`, with
the network's spec (`registry.py`: its settings model and opener, in `anchors/<network>/`).

`Anchors.backend` (the tracker, the outbox's delivery, `provenance anchor`/`verify`) calls it, and
so do the `provenance bitcoin` / `provenance ipfs` commands: the same settings give the same
backend whichever entry point read them. It takes the typed settings (`provenance.config`'s
`ProvenanceConfig`, its `blockchain` part, or one network's section), or a dict of the same shape,
which is validated into the network's model first. It passes every setting where it belongs:

- Ethereum: `network`, `contract_address`, `confirmations`, the timeouts, `gas_limit`,
  `gas_price`, the signer: the Ape keystore account `account` (its passphrase from
  `$APE_ACCOUNTS_<alias>_PASSPHRASE` or a prompt), else the in-memory key taken from a dict's
  `private_key`, else the environment's (`connect`),
  and `allow_start` / `allow_deploy` = not `read_only` (a read-only caller never starts the local
  chain nor deploys a contract).
- IPFS: `api_url` (the guide's `url`), `timeout` and the node's own wait (`IpfsSettings.fetch_timeout`).
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
from typing import Any, Callable, Mapping, TypeVar

from pydantic import ValidationError

from .base import AnchorBackend
from .registry import spec
from .settings import Section, validation_line
from ..record.receipts import AnchorState, Receipt
from ..errors import AnchorError, ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_PAUSE_S = 0.5  # doubled after each failed try, at most MAX_RETRY_PAUSE_S
MAX_RETRY_PAUSE_S = 5.0


def open_backend(network: str, config: Any, *, read_only: bool = False) -> AnchorBackend:
    """The backend for `network` from `config` (see the module's docstring). `AnchorError` if the
    network cannot be reached; `ConfigError` for a setting that cannot work."""
    opener = spec(network).open  # ConfigError naming the known networks for an unknown one
    section = section_of(network, config)
    attempts = section.retry_attempts
    backend = _tried(attempts, f"opening {network}", lambda: opener(section, read_only))
    if getattr(backend, "local_only", False):
        attempts = 1  # e.g. IPFS's local store alone: nothing to retry
    if attempts > 1:
        # An instance attribute shadows the method, so the backend keeps its own type (callers
        # check isinstance) and whatever calls `self.anchor` inside the backend is retried too.
        anchor = backend.anchor
        backend.anchor = functools.wraps(anchor)(  # type: ignore[method-assign]
            lambda *args, **kwargs: _tried(attempts, f"anchoring on {network}", lambda: anchor(*args, **kwargs))
        )
    return backend


def section_of(network: str, config: Any) -> Section:
    """`network`'s typed settings from a whole config or its `blockchain` part (typed, or in the
    dict form), or the typed section itself."""
    model = _model(network)
    if isinstance(config, model):
        return config
    if isinstance(config, Mapping):
        sections = config["blockchain"] if "blockchain" in config else config
        data = sections.get(network, {})
        if not isinstance(data, Mapping):
            raise ConfigError(f"config: blockchain.{network}: expected an object, found {type(data).__name__}")
        try:
            section = model.model_validate(dict(data), strict=True)
        except ValidationError as e:
            raise ConfigError(validation_line(e, model, {})) from None
        section.keep_from(data)
        return section
    blockchain = getattr(config, "blockchain", config)
    return getattr(blockchain, network)


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


def _model(network: str) -> type[Section]:
    return spec(network).settings
