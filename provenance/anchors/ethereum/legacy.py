"""The original system's registry (its guide's `MLProvenance`: `storeHash`, `verifyHash`,
`getHashInfo`, no per-submitter anchor), recognised by its code and refused with what to do.

Its `storeHash` lets any account overwrite a root's time and metadata and keeps no submitter, so
an anchor there cannot carry what verification checks (who anchored each tree, in which block,
with which record digest) without trusting whatever transaction last wrote the root. Anchoring
to it is refused as a configuration mistake (the outbox marks the anchor failed, not pending:
retrying cannot help); this package's `MLProvenance` serves the same ABI to the user's tools.
"""

from __future__ import annotations

from eth_utils import keccak

from ...errors import ConfigError

PUSH4 = b"\x63"
GUIDE_FUNCTIONS = ("storeHash(bytes32,string)", "verifyHash(bytes32)", "getHashInfo(bytes32)")
OUR_ANCHOR = "anchor(bytes32,bytes32,bytes32)"


class GuideRegistryError(ConfigError):
    """The configured contract is the original system's registry, which this package does not anchor to."""


def _pushes(code: bytes, signature: str) -> bool:
    return PUSH4 + keccak(text=signature)[:4] in code


def is_guide_registry(code: bytes) -> bool:
    """Whether runtime `code` dispatches the guide's three functions and not our `anchor`."""
    return all(_pushes(code, s) for s in GUIDE_FUNCTIONS) and not _pushes(code, OUR_ANCHOR)


def refusal(address: str, chain_id: int) -> GuideRegistryError:
    return GuideRegistryError(
        f"the contract at {address} on chain {chain_id} is the original system's registry (the guide's "
        "MLProvenance: storeHash/verifyHash/getHashInfo), not this package's: not anchored there, because its "
        "storeHash records no submitter and lets anyone overwrite a root's time, so no run anchored there could "
        "show who anchored it; set blockchain.ethereum.contract_address to null (the local chain deploys ours) "
        "or to an MLProvenance deployed with `ape run deploy`, which answers your tools' verifyHash/getHashInfo too"
    )
