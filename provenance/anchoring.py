"""Anchoring a run's stages on the configured networks, and opening those networks.

Backends are opened lazily, once per process. A network that cannot be reached gives a
`pending` receipt that says why (to be retried with `provenance anchor --retry`), never a
made-up id; the run itself is not affected.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from .anchors.base import AnchorBackend, AnchorState, Receipt, Verdict
from .errors import AnchorError, ConfigError
from .record import Record

log = logging.getLogger(__name__)


def _open_ethereum(section: Mapping[str, Any]) -> AnchorBackend:
    from .anchors import ethereum

    return ethereum.connect(
        section["network"],
        contract_address=section["contract_address"],
        confirmations=section["confirmations"],
        request_timeout=section["request_timeout"],
        receipt_timeout=section["receipt_timeout"],
    )


OPENERS: dict[str, Callable[[Mapping[str, Any]], AnchorBackend]] = {"ethereum": _open_ethereum}


class Anchors:
    """The configured anchor networks of one process, opened on first use."""

    def __init__(self, config: Mapping[str, Any], backends: Mapping[str, AnchorBackend] | None = None) -> None:
        self.enabled: bool = config["blockchain"]["enabled"]
        self.networks: list[str] = list(config["blockchain"]["networks"]) if self.enabled else []
        self._sections = config["blockchain"]
        self._backends: dict[str, AnchorBackend] = dict(backends or {})

    def backend(self, network: str) -> AnchorBackend:
        """The open backend for `network`; AnchorError if it cannot be reached."""
        if network not in self._backends:
            opener = OPENERS.get(network)
            if opener is None:
                raise ConfigError(f"anchor network {network!r} is not available in this installation")
            self._backends[network] = opener(self._sections[network])
        return self._backends[network]

    def anchor_stage(self, record: Record, stage_name: str) -> dict[str, Receipt]:
        """Anchor one stage's root on every configured network; store the receipts in `record`."""
        stage = record.stage(stage_name)
        prev_root = record.stage(stage.prev).root if stage.prev else bytes(32)
        snapshot = record.snapshot_bytes(stage_name)
        receipts: dict[str, Receipt] = {}
        for network in self.networks:
            existing = record.receipts_for(stage_name).get(network)
            if existing is not None and existing.state is AnchorState.CONFIRMED:
                receipts[network] = existing
                continue
            try:
                receipt = self.backend(network).anchor(stage.root, snapshot, prev_root)
            except AnchorError as e:
                log.warning("anchor of stage %s on %s left pending: %s", stage_name, network, e)
                receipt = Receipt(network, stage.root, AnchorState.PENDING, {}, reason=str(e))
            record.set_receipt(stage_name, receipt)
            receipts[network] = receipt
        return receipts

    def verify(self, receipt: Receipt) -> Verdict:
        """Check one receipt against its network; unreachable networks give a failed verdict."""
        if receipt.state is AnchorState.PENDING:
            return Verdict(receipt.network, False, f"pending, not anchored yet ({receipt.reason or 'not sent'})")
        try:
            backend = self.backend(receipt.network)
        except (AnchorError, ConfigError) as e:
            return Verdict(receipt.network, False, f"cannot check: {e}")
        return backend.verify(receipt, receipt.root)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for network in self.networks:
            try:
                out[network] = self.backend(network).status()
            except (AnchorError, ConfigError) as e:
                out[network] = {"network": network, "reachable": False, "error": str(e)}
        return out
