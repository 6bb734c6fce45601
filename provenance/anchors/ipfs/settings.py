"""The typed settings of the IPFS anchor (`blockchain.ipfs`), and its one timeout rule.

`api_url` is the Kubo RPC API of the user's node (the original guide's `url`); null means the
embedded node if it runs, else the local content-addressed store only.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import field_validator

from ..settings import RetryAttempts, Seconds, Section, describe, is_url, problem

FETCH_SHARE = 2 / 3  # of `timeout`: js-ipfs waits forever for an absent block unless told; keep its wait inside ours


class IpfsSettings(Section):
    """`blockchain.ipfs`: which node, how long to wait for it."""

    enabled: bool = True  # false takes ipfs out of blockchain.networks; true (given) adds it when networks is not given
    api_url: str | None = None  # the node's Kubo RPC API; None: the embedded node if up, else the local store
    timeout: Seconds = 30.0  # seconds for any one answer of the node
    retry_attempts: RetryAttempts = 1  # tries per delivery before the outbox entry stays pending

    ENV: ClassVar = {
        "api_url": ("PROVENANCE_IPFS_API_URL", "PROVENANCE_IPFS_URL"),
        "timeout": ("PROVENANCE_IPFS_TIMEOUT",),
        "retry_attempts": ("PROVENANCE_IPFS_RETRY_ATTEMPTS",),
    }

    @property
    def fetch_timeout(self) -> float:
        """How long the node itself may look for a block (`cat`/`pin/add` `timeout=`): the one
        place this rule is written."""
        return self.timeout * FETCH_SHARE

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not is_url(value):
            raise problem(f"expected an http(s):// URL or null, found {describe(value)}")
        return value
