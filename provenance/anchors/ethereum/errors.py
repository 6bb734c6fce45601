"""The Ethereum backend's errors: what a revert, a foreign contract, a refused request or a failed
transport means, each as one line (no URL, no secret)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3.exceptions import (
    ContractLogicError,
)

from ...errors import AnchorError, ConfigError, one_line, reason

_CUSTOM_ERRORS = {
    "0x" + keccak(text="ZeroRoot()")[:4].hex(): "the contract rejects the zero root (ZeroRoot)",
    "0x" + keccak(text="AlreadyAnchored(address,bytes32)")[:4].hex(): "this account already anchored the root (AlreadyAnchored)",
    "0x" + keccak(text="NotAnchored(address,bytes32)")[:4].hex(): "this account has not anchored the root (NotAnchored)",
    "0x" + keccak(text="AlreadyRevoked(address,bytes32)")[:4].hex(): "this account's anchor of the root is already revoked (AlreadyRevoked)",
}


class ForeignContractError(AnchorError):
    """The address holds code, and it is not this package's MLProvenance: what it answers means
    nothing (an always-true `verifyInclusion`). Retrying never helps; a proof naming it fails."""


class RefusedError(ConfigError):
    """The contract would refuse the request for what it asks (revoking a root this account never
    anchored, or revoking twice): the caller's mistake, not a network failure."""


class _NotFetched(Exception):
    """No receipt could be fetched (`reason`: why, without the URL): the anchor stays submitted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _would_revert(e: ContractLogicError) -> AnchorError:
    data = getattr(e, "data", None)
    if isinstance(data, str) and data[:10] in _CUSTOM_ERRORS:
        return AnchorError(f"transaction would revert: {_CUSTOM_ERRORS[data[:10]]}")
    return AnchorError(f"transaction would revert: {reason(e)}")


_ERROR_STRING, _PANIC = "0x08c379a0", "0x4e487b71"  # Error(string), Panic(uint256)


def _revert_reason(error: Mapping[str, Any]) -> str | None:
    """Why a call reverted, from a JSON-RPC error object (None: the error is not a revert), in the
    words web3.py gives a `ContractLogicError` for it; the contract's custom errors by name."""
    message = str(error.get("message") or "")
    data = error.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        if data[:10] in _CUSTOM_ERRORS:
            return _CUSTOM_ERRORS[data[:10]]
        try:
            if data[:10] == _ERROR_STRING:
                return "execution reverted: " + one_line(abi_decode(["string"], bytes.fromhex(data[10:]))[0])
            if data[:10] == _PANIC:
                return f"execution reverted: panic code {abi_decode(['uint256'], bytes.fromhex(data[10:]))[0]:#x}"
        except Exception:  # undecodable revert data: say what it is, not what it claims
            return "execution reverted (revert data that does not decode)"
        return f"execution reverted: custom error {data[:10]}"
    if isinstance(data, dict) and message:
        return f"execution reverted: {one_line(message)}"
    if error.get("code") == 3 or "revert" in message.lower():
        return one_line(message) or "execution reverted"
    return None


def _not_json(e: ValueError) -> str:
    return "bytes that are not UTF-8" if isinstance(e, UnicodeDecodeError) else "text that is not JSON"


def _transport_reason(e: BaseException) -> str:
    """Why a request failed, without echoing the URL (it may carry an API key)."""
    if isinstance(e, TimeoutError) or "Timeout" in type(e).__name__:  # requests' Timeouts too
        return "the request timed out"
    if isinstance(e, ConnectionError) or "Connection" in type(e).__name__:
        return "connection refused or host unreachable"
    return type(e).__name__
