"""The typed settings of the Bitcoin anchor (`blockchain.bitcoin`). Credentials are never
settings: they come from `$BITCOIN_RPC_USER`/`$BITCOIN_RPC_PASSWORD` or a cookie file
(`rpc.credentials_from_environment`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import field_validator

from ..settings import Confirmations, Positive, RetryAttempts, Seconds, Section, describe, is_url, problem
from .dialects import DIALECTS

LOCAL = "local"  # the embedded regtest node


class BitcoinSettings(Section):
    """`blockchain.bitcoin`: which node, which chain it must be on, what an anchor may cost."""

    enabled: bool = True  # false takes bitcoin out of blockchain.networks; true (given) adds it when networks is not given
    rpc_url: str | None = None  # None or "local": the embedded regtest node; else http(s)://host:port
    chain: str = "regtest"  # what getblockchaininfo must report: main, test, signet, regtest, ...
    dialect: str = "auto"  # core | sv | auto (from getnetworkinfo's subversion)
    confirmations: Confirmations = 1  # blocks before an anchor counts as confirmed
    wallet: str | None = None  # Bitcoin Core: the wallet to load (created if absent)
    max_fee_rate: Positive = 0.001  # BTC per kvB; an anchor never pays more
    timeout: Seconds = 30.0  # seconds for any one answer of the node
    retry_attempts: RetryAttempts = 1  # tries per delivery before the outbox entry stays pending
    mine_local_blocks: bool = True  # embedded regtest only: mine the blocks that confirm each anchor

    ENV: ClassVar = {
        "rpc_url": ("PROVENANCE_BITCOIN_RPC_URL", "BITCOIN_RPC_URL"),
        "chain": ("PROVENANCE_BITCOIN_CHAIN",),
        "dialect": ("PROVENANCE_BITCOIN_DIALECT",),
        "confirmations": ("PROVENANCE_BITCOIN_CONFIRMATIONS",),
        "wallet": ("PROVENANCE_BITCOIN_WALLET",),
        "max_fee_rate": ("PROVENANCE_BITCOIN_MAX_FEE_RATE",),
        "timeout": ("PROVENANCE_BITCOIN_TIMEOUT",),
        "retry_attempts": ("PROVENANCE_BITCOIN_RETRY_ATTEMPTS",),
    }

    @field_validator("rpc_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and value != LOCAL and not is_url(value):
            raise problem(f"expected an http(s):// URL, 'local' or null, found {describe(value)}")
        return value

    @field_validator("chain")
    @classmethod
    def _chain(cls, value: str) -> str:
        if not value.strip():
            raise problem("expected a chain name (main, test, signet, regtest), found ''")
        return value

    @field_validator("dialect")
    @classmethod
    def _dialect(cls, value: str) -> str:
        if value != "auto" and value not in DIALECTS:
            raise problem(f"expected one of auto, {', '.join(DIALECTS)}, found {describe(value)}")
        return value
