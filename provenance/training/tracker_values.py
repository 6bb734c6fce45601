"""The tracker's leaf helpers and its refusal of secrets in a training config."""

from __future__ import annotations

from typing import Any, Mapping

from ..config import refuse_secrets
from ..digests import context
from ..digests.privacy import KIND as privacy_kind
from ..digests.privacy import METRICS_KEY as PRIVACY_KEY
from ..errors import ConfigError, ProvenanceError
from ..merkle import Leaf
from ..record import kinds


def _with_privacy(values: dict[str, Any], privacy: Mapping[str, Any] | None) -> dict[str, Any]:
    if privacy is None:
        return values
    if PRIVACY_KEY in values:
        raise ProvenanceError(f"metrics: {PRIVACY_KEY!r} is where the DP accounting goes; expected no metric of that name")
    return values | {PRIVACY_KEY: dict(privacy)}


def _value_leaves(kind: str, values: Mapping[str, Any], privacy: Mapping[str, Any] | None,
                  encode: context.Encode) -> list[Leaf]:
    """One leaf per metric or result; the DP accounting as its own `privacy` leaves."""
    if privacy is None:
        return kinds.make(kind, values, encode)
    rest = {k: v for k, v in values.items() if k != PRIVACY_KEY}
    return kinds.make(kind, rest, encode) + kinds.make(privacy_kind, values[PRIVACY_KEY], encode)


NETWORK_KEYS = ("blockchain", "ethereum", "ipfs", "bitcoin")


def _refuse_secrets_in_training_config(training_config: Mapping[str, Any]) -> None:
    """The training config is written to the run folder, so a key in it is refused. The guide's
    "Error Handling" example passes its "Best Practices" network dict here: that refusal says in
    one line how to split the two."""
    try:
        refuse_secrets(training_config, "training config")
    except ConfigError as e:
        networks = [k for k in NETWORK_KEYS if isinstance(training_config, Mapping) and k in training_config]
        if not networks:
            raise
        raise ConfigError(
            f"training config: found network settings ({', '.join(networks)}) holding a private key where the "
            "training settings go; split them: ProvenanceTracker(config={" + ", ".join(f"'{k}': ..." for k in networks)
            + "}) for the networks (a key in a dict is used, never written), and "
            "store_merkle_on_blockchain_before_training({'epochs': ..., 'batch_size': ...}) for what is written to the "
            "run folder; nothing was written"
        ) from e
