"""The anchor networks, one spec each: everything the rest of the package needs to know of one.

Each network's package (`anchors/<network>/__init__.py`) registers its `NetworkSpec`: its settings
model, how to open its backend, where a receipt's anchor went (the outbox's destination), a public
explorer's page for it, the receipt fields worth showing, and whether it proves batch members.
Opening (`anchors/open.py`), the outbox, delivery, verification links, MLflow and the CLI listing
read the spec instead of naming networks, so a new network is its own folder and one
`register(...)` call. The built-in networks are imported the first time a spec is asked for.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import ConfigError

if TYPE_CHECKING:
    from .base import AnchorBackend
    from .settings import Section

BUILT_IN = ("ethereum", "ipfs", "bitcoin")  # their packages register themselves, in this order


def _no_destination(location: Mapping[str, Any]) -> str:
    return ""


def _no_link(location: Mapping[str, Any]) -> str | None:
    return None


def _no_endpoint(section: Any) -> str | None:
    return None


@dataclass(frozen=True)
class NetworkSpec:
    """One anchor network.

    Attributes:
        name: the network's name in configs, receipts and the outbox (`ethereum`).
        settings: its settings model (the config section `blockchain.<name>`).
        open: `(section, read_only) -> AnchorBackend`; a read-only caller starts and deploys nothing.
        destination: where an old receipt's anchor went, from its location ("" if it does not say):
            the outbox keeps entries for one destination apart.
        explorer_link: a public explorer's page for a receipt's location, or None (never made up).
        receipt_fields: location key -> short name, the fields MLflow tags and listings show.
        proves_batch_members: the backend checks a `batch.member` proof against a batch root, so
            many roots can be delivered in one anchor (`anchoring/batch.py`).
        short: the name listings print (`eth`); the name itself if empty.
        endpoint: the node or network a section sends to (a URL or a name such as `local`; None:
            the local default), for the outbox's target (shown without path or credentials).
    """

    name: str
    settings: type[Section]
    open: Callable[[Any, bool], AnchorBackend]
    destination: Callable[[Mapping[str, Any]], str] = _no_destination
    explorer_link: Callable[[Mapping[str, Any]], str | None] = _no_link
    receipt_fields: Mapping[str, str] = field(default_factory=dict)
    proves_batch_members: bool = False
    short: str = ""
    endpoint: Callable[[Any], str | None] = _no_endpoint


_SPECS: dict[str, NetworkSpec] = {}


def register(spec: NetworkSpec) -> NetworkSpec:
    """Add (or replace, by name) a network's spec; returns it."""
    _SPECS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a network (a test's own, once it is done)."""
    _SPECS.pop(name, None)


def specs() -> dict[str, NetworkSpec]:
    """Every registered network, the built-in ones first."""
    _load_built_in()
    return {name: _SPECS[name] for name in BUILT_IN if name in _SPECS} | _SPECS


def spec(name: str) -> NetworkSpec:
    """The spec of `name`; `ConfigError` naming the known networks if there is none."""
    known = specs()
    if name not in known:
        raise ConfigError(f"anchor network {name!r}: expected one of {', '.join(known)}, found no such backend")
    return known[name]


def find(name: str) -> NetworkSpec | None:
    """The spec of `name`, or None (a receipt from a network this install does not know)."""
    return specs().get(name)


def _load_built_in() -> None:
    for name in BUILT_IN:
        if name not in _SPECS:
            importlib.import_module(f"{__package__}.{name}")
