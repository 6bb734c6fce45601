"""The two Bitcoin node dialects this package speaks, in one table, and the OP_RETURN scripts.

Bitcoin Core and the Bitcoin SV node share the raw-transaction RPCs but differ in a few places:
how the wallet signs, what `sendrawtransaction` takes as its fee guard, whether wallets are
named, segwit, the signature hash, and the script of a `data` output. Every such difference is a
field here; the code elsewhere reads the field and never asks which dialect it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from ...errors import ConfigError

OP_FALSE, OP_RETURN, PUSH_32 = 0x00, 0x6A, 0x20
SIGHASH_ALL, SIGHASH_FORKID = 0x01, 0x40


@dataclass(frozen=True)
class Dialect:
    name: str
    subversion_tag: str  # how the node names itself in getnetworkinfo's subversion
    version_tag: str  # how `bitcoind --version` names the node
    data_prefix: bytes  # what createrawtransaction's "data" output puts before the 32-byte push
    sign_rpc: str  # signs a raw transaction with the node's wallet
    send_guard: Callable[[Decimal], Any]  # sendrawtransaction's 2nd argument, from our max fee rate
    named_wallets: bool  # createwallet/loadwallet and /wallet/<name> endpoints exist
    segwit: bool  # offline: P2WPKH inputs are allowed (signed with a witness)
    sighash_type: int  # the byte appended to every signature
    forkid_digest: bool  # offline: legacy inputs signed with the BIP143 digest (SV's FORKID scheme)
    node_args: tuple[str, ...]  # what bitcoind needs beyond the common regtest arguments


CORE = Dialect(
    name="core",
    subversion_tag="/Satoshi:",
    version_tag="Bitcoin Core",
    data_prefix=bytes([OP_RETURN, PUSH_32]),
    sign_rpc="signrawtransactionwithwallet",
    send_guard=lambda max_fee_rate: max_fee_rate,  # maxfeerate, BTC/kvB
    named_wallets=True,
    segwit=True,
    sighash_type=SIGHASH_ALL,
    forkid_digest=False,
    # regtest has no fee estimates; without a fallback fee fundrawtransaction refuses to fund.
    node_args=("-fallbackfee=0.0002",),
)

SV = Dialect(
    name="sv",
    subversion_tag="/Bitcoin SV:",
    version_tag="Bitcoin SV",
    data_prefix=bytes([OP_FALSE, OP_RETURN, PUSH_32]),
    sign_rpc="signrawtransaction",
    send_guard=lambda max_fee_rate: False,  # allowhighfees=false: the node's own high-fee check
    named_wallets=False,
    segwit=False,
    sighash_type=SIGHASH_ALL | SIGHASH_FORKID,
    forkid_digest=True,
    # The SV node refuses to start without these consensus and mining settings.
    node_args=("-excessiveblocksize=10000000000", "-maxstackmemoryusageconsensus=0", "-minminingtxfee=0.000005"),
)

DIALECTS = {d.name: d for d in (CORE, SV)}


def dialect_named(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ConfigError(f"Bitcoin dialect: expected one of {', '.join(DIALECTS)} or auto, found {name!r}") from None


def dialect_from_subversion(subversion: str) -> Dialect:
    """The dialect of a node from its `getnetworkinfo` subversion, e.g. `/Satoshi:27.0.0/`."""
    for dialect in DIALECTS.values():
        if subversion.startswith(dialect.subversion_tag):
            return dialect
    raise ConfigError(f"Bitcoin dialect: cannot tell from the node's subversion {subversion!r}, set it to core or sv")


def dialect_from_version(version_line: str) -> Dialect:
    """The dialect of a bitcoind binary from the first line of `bitcoind --version`."""
    for dialect in DIALECTS.values():
        if dialect.version_tag in version_line:
            return dialect
    raise ConfigError(f"bitcoind: expected Bitcoin Core or Bitcoin SV, found {version_line.strip()!r}")


def data_script(root: bytes, dialect: Dialect) -> bytes:
    """The output script that carries `root` in this dialect."""
    return dialect.data_prefix + root


def root_from_script(script: bytes) -> bytes | None:
    """The 32-byte payload of `6a20<root>` (OP_RETURN) or `006a20<root>` (OP_FALSE OP_RETURN);
    None for any other script."""
    for dialect in DIALECTS.values():
        if len(script) == len(dialect.data_prefix) + 32 and script.startswith(dialect.data_prefix):
            return script[len(dialect.data_prefix):]
    return None
