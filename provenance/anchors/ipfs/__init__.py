"""IPFS: records stored and pinned over the Kubo RPC API, and the embedded node's launcher.

Registers the network's spec (`anchors/registry.py`); the backend is imported when one is opened."""

from __future__ import annotations

from typing import Any

from ..registry import NetworkSpec, register
from .settings import IpfsSettings


def _open(section: IpfsSettings, read_only: bool) -> Any:
    from . import backend

    return backend.connect(section.api_url, timeout=section.timeout, fetch_timeout=section.fetch_timeout)


SPEC = register(NetworkSpec(name="ipfs", settings=IpfsSettings, open=_open, receipt_fields={"cid": "cid"},
                           endpoint=lambda section: section.api_url))
