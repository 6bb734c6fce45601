"""What a node's answers become: addresses, chain ids, numbers and wire values, each checked."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from web3 import Web3

from ...errors import AnchorError, FormatError
from .calldata import to_int


@lru_cache(maxsize=64)
def _checksummed(address: str) -> str:
    """EIP-55 form of an address (cached: the signer's and contract's are asked for per anchor)."""
    return Web3.to_checksum_address(address)


def _wire(tx: dict[str, Any]) -> dict[str, Any]:
    """A transaction as JSON-RPC takes it: quantities in 0x-hex."""
    return {k: hex(v) if isinstance(v, int) else v for k, v in tx.items()}


def _big_int(value: Any) -> int:
    """A quantity of any size (a chain id is checked against its range after, naming its length)."""
    return to_int(value, max_digits=1000)


def _address(value: Any, what: str) -> str:
    """A checksummed address, or a one-line FormatError."""
    if not isinstance(value, str) or not Web3.is_address(value):
        raise FormatError(f"{what}: expected a 0x-prefixed 20-byte address, found {str(value)[:50]!r}")
    return Web3.to_checksum_address(value)


MAX_CHAIN_ID = 2**63 - 37  # EIP-2294: the largest chain id a signed transaction can carry


def _check_chain_id(chain_id: int, endpoint: str) -> int:
    if not 1 <= chain_id <= MAX_CHAIN_ID:
        found = chain_id if len(str(chain_id)) <= 20 else f"a number of {len(str(chain_id))} digits"
        raise AnchorError(f"Ethereum RPC at {endpoint}: expected a chain id in 1..{MAX_CHAIN_ID} (EIP-2294), found {found}")
    return chain_id
