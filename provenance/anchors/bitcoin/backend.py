"""Bitcoin anchor: the 32-byte root in an OP_RETURN output, over a node's JSON-RPC interface.

The node's wallet funds and signs the transaction (`anchor`), or a transaction built and signed
off the node (`bitcoin_offline`) is broadcast as is (`broadcast`). The receipt names the chain,
txid and output; it is `submitted` until the transaction has the configured number of
confirmations, then `confirmed` (`refresh` polls). `verify` fetches the transaction from the node,
decodes the output script (`6a20<root>` or `006a20<root>`), checks the payload against the root
and counts confirmations: an unmined transaction is a failed verdict, never a pass.

Only the root goes on chain: the record and previous root are not stored by this backend (the
root commits to the previous root through its `chain.prev` leaf).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Mapping

from ...errors import AnchorError, ConfigError, FormatError
from ..base import ZERO_ROOT, AnchorBackend, StaleTransactionError, check_root
from ...record.receipts import AnchorState, Receipt, Verdict
from .dialects import Dialect, dialect_from_subversion, dialect_named, root_from_script
from .settings import LOCAL, BitcoinSettings  # LOCAL: the embedded regtest node, started on demand
from .rpc import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_VERIFY_ERROR,
    RPC_WALLET_ERROR,
    RPC_WALLET_INSUFFICIENT_FUNDS,
    RPC_WALLET_NOT_FOUND,
    BitcoinRpc,
    Credentials,
    RpcError,
    credentials_from_environment,
)

_TXID = re.compile(r"[0-9a-f]{64}")
_BLOCK_FIELDS = ("block_hash", "block_height")


@dataclass(frozen=True)
class BitcoinConfig:
    """Where the node is and what to expect of it. Holds no credentials (see `bitcoin_rpc`)."""

    url: str = LOCAL  # http(s)://host:port of the node's JSON-RPC, or "local"
    chain: str = "regtest"  # what getblockchaininfo must report: main, test, signet, regtest, ...
    dialect: str = "auto"  # core | sv | auto (from getnetworkinfo's subversion)
    confirmations: int = 1  # confirmations before a receipt is `confirmed` and a verdict passes
    wallet: str | None = None  # Bitcoin Core: the wallet to load (created if absent)
    max_fee_rate: Decimal = Decimal("0.001")  # BTC per kvB; an anchor never pays more
    timeout: float = 30.0

    @classmethod
    def of(cls, settings: BitcoinSettings) -> BitcoinConfig:
        """The backend's view of `blockchain.bitcoin` (from file, environment and flags)."""
        return cls(url=settings.rpc_url or LOCAL, chain=settings.chain, dialect=settings.dialect,
                   confirmations=settings.confirmations, wallet=settings.wallet,
                   max_fee_rate=Decimal(str(settings.max_fee_rate)), timeout=settings.timeout)

    def __post_init__(self) -> None:  # the settings model's rules, the one place they are written
        if not isinstance(self.max_fee_rate, Decimal):
            raise ConfigError(f"Bitcoin max_fee_rate: expected a Decimal amount of BTC/kvB, found {type(self.max_fee_rate).__name__}")
        BitcoinSettings.check("Bitcoin ", chain=self.chain, dialect=self.dialect, confirmations=self.confirmations,
                              wallet=self.wallet, max_fee_rate=float(self.max_fee_rate), timeout=float(self.timeout))


@dataclass(frozen=True)
class NodeInfo:
    """What the node said about itself on first contact."""

    chain: str
    dialect: Dialect
    subversion: str


class BitcoinAnchor(AnchorBackend):
    """Anchors roots through one node. Nothing is sent before the first call, so a backend for a
    node that is down can be made; its calls then raise `AnchorError` (verify: a failed verdict)."""

    name = "bitcoin"

    def __init__(self, config: BitcoinConfig, credentials: Credentials) -> None:
        if config.url == LOCAL:
            raise ConfigError("BitcoinAnchor: expected the node's URL; use bitcoin.connect() for the local node")
        self.config = config
        self.rpc = BitcoinRpc(config.url, credentials, timeout=config.timeout)
        self._node: NodeInfo | None = None
        self._wallet_ready = False

    @property
    def endpoint(self) -> str:
        return self.rpc.endpoint

    @property
    def destination(self) -> str:
        """Where anchors go, for the outbox: the chain and the node (redacted URL)."""
        return f"bitcoin:{self.config.chain}:{self.endpoint}"

    # ------------------------------------------------------------------ writes

    def anchor(self, root: bytes, record: bytes = b"", prev_root: bytes = ZERO_ROOT) -> Receipt:
        """Fund, sign and send a transaction with `root` in an OP_RETURN output, using the node's
        wallet. Returns a `submitted` receipt with the real txid; raises `AnchorError` (nothing
        sent, or the node refused it) otherwise."""
        prepared = self.prepare(root)
        return self.broadcast(root, prepared.location["raw_tx"])

    def prepare(self, root: bytes) -> Receipt:
        """Fund and sign (nothing is sent): a `pending` receipt whose location already names the
        txid and holds the signed transaction (`raw_tx`). The outbox stores it before
        broadcasting, so a crash in between re-broadcasts this same transaction instead of
        paying for a second one."""
        check_root(root)
        node = self.node()
        wallet = self._wallet()
        unfunded = wallet.call("createrawtransaction", [], {"data": root.hex()})
        try:
            funded = wallet.call("fundrawtransaction", unfunded)
        except RpcError as e:
            if e.code in (RPC_WALLET_ERROR, RPC_WALLET_INSUFFICIENT_FUNDS) and "insufficient funds" in e.rpc_message.lower():
                wallet_name = f" {self.config.wallet!r}" if self.config.wallet else ""
                raise AnchorError(
                    f"Bitcoin wallet{wallet_name} at {self.endpoint} has insufficient funds: expected spendable "
                    f"coins to pay the fee of an OP_RETURN transaction, found too few"
                ) from None
            raise
        signed = wallet.call(node.dialect.sign_rpc, funded["hex"])
        if not signed.get("complete"):
            errors = "; ".join(str(e.get("error", e)) for e in signed.get("errors", [])) or "no reason given"
            raise AnchorError(f"Bitcoin wallet at {self.endpoint} could not sign every input: {errors}")
        tx = self.rpc.call("decoderawtransaction", signed["hex"])
        vout = self._data_output(tx, root)
        if vout is None:
            raise AnchorError(f"the node built a transaction without the root's OP_RETURN output ({node.dialect.name} dialect)")
        size = tx.get("vsize") or tx["size"]
        fee_rate = Decimal(str(funded["fee"])) * 1000 / size
        if fee_rate > self.config.max_fee_rate:
            raise AnchorError(
                f"Bitcoin fee rate {fee_rate:.8f} BTC/kvB: expected at most {self.config.max_fee_rate} (max fee rate); nothing sent"
            )
        location = {"chain": node.chain, "txid": tx["txid"], "vout": vout, "raw_tx": signed["hex"]}
        return Receipt(self.name, root, AnchorState.PENDING, location, reason="signed, not broadcast yet")

    def broadcast(self, root: bytes, raw_tx: str) -> Receipt:
        """Send a transaction signed elsewhere (see `bitcoin_offline`) that carries `root`."""
        check_root(root)
        node = self.node()
        try:
            tx = self.rpc.call("decoderawtransaction", raw_tx)
        except RpcError as e:
            raise FormatError(f"raw transaction: the node cannot decode it ({e.rpc_message})") from None
        vout = self._data_output(tx, root)
        if vout is None:
            raise FormatError(f"raw transaction {tx['txid']}: expected an OP_RETURN output carrying 0x{root.hex()}, found none")
        return self._send(raw_tx, tx["txid"], vout, root, node)

    def refresh(self, receipt: Receipt) -> Receipt:
        """The receipt with confirmations, block and state brought up to date from the node.
        Raises `AnchorError` if the node cannot be reached (the receipt stays as it was)."""
        loc = receipt.location
        if "txid" not in loc:
            return receipt
        node = self.node()
        if loc.get("chain") != node.chain:
            raise ConfigError(f"receipt is for Bitcoin chain {loc.get('chain')!r}, the node is on {node.chain!r}")
        base = {k: v for k, v in loc.items() if k not in _BLOCK_FIELDS}
        tx = self._transaction(str(loc["txid"]))
        if tx is None:
            reason = "transaction not found by the node (dropped from its mempool, or reorged out)"
            return receipt.with_state(AnchorState.PENDING, location=base, confirmations=0, reason=reason)
        confirmations = int(tx.get("confirmations", 0))
        if confirmations > 0:
            header = self.rpc.call("getblockheader", tx["blockhash"])
            base |= {"block_hash": tx["blockhash"], "block_height": header["height"]}
        if confirmations >= self.config.confirmations:
            return receipt.with_state(AnchorState.CONFIRMED, location=base, confirmations=confirmations, reason=None)
        reason = f"{confirmations} of {self.config.confirmations} confirmations"
        return receipt.with_state(AnchorState.SUBMITTED, location=base, confirmations=confirmations, reason=reason)

    # ------------------------------------------------------------------ reads

    def verify(self, receipt: Receipt, root: bytes) -> Verdict:
        """Check on the node that the receipt's output carries `root` with enough confirmations."""
        try:
            return self._verify(receipt, root)
        except AnchorError as e:
            return Verdict.cannot_check(self.name, f"cannot check: {e}")

    def _verify(self, receipt: Receipt, root: bytes) -> Verdict:
        loc = receipt.location
        if receipt.network != self.name:
            return Verdict(self.name, False, f"receipt is for network {receipt.network!r}, expected 'bitcoin'")
        if receipt.root != root:
            return Verdict(self.name, False, f"receipt is for root 0x{receipt.root.hex()}, expected 0x{root.hex()}")
        if "txid" not in loc:
            return Verdict(self.name, False, f"receipt is {receipt.state.value} with no transaction to check")
        txid, vout = loc["txid"], loc.get("vout")
        if not isinstance(txid, str) or not _TXID.fullmatch(txid):
            return Verdict(self.name, False, f"receipt txid: expected 64 lowercase hex characters, found {str(txid)[:80]!r}")
        if isinstance(vout, bool) or not isinstance(vout, int) or vout < 0:
            return Verdict(self.name, False, f"receipt vout: expected an output index >= 0, found {vout!r}")
        node = self.node()
        if loc.get("chain") != node.chain:
            return Verdict(self.name, False, f"receipt is for chain {loc.get('chain')!r}, the node is on {node.chain!r}")
        tx = self._transaction(txid)
        if tx is None:
            return Verdict(self.name, False, f"transaction {txid} not found on {node.chain}")
        outputs = {o.get("n"): o for o in tx.get("vout", [])}
        if vout not in outputs:
            return Verdict(self.name, False, f"transaction {txid} has no output {vout}")
        script_hex = outputs[vout].get("scriptPubKey", {}).get("hex", "")
        payload = root_from_script(bytes.fromhex(script_hex))
        if payload is None:
            return Verdict(self.name, False, f"output {vout} of {txid} is not an OP_RETURN with 32 bytes: script {script_hex[:80]}")
        if payload != root:
            return Verdict(self.name, False, f"output {vout} of {txid} carries 0x{payload.hex()}, expected 0x{root.hex()}")
        confirmations = int(tx.get("confirmations", 0))
        if confirmations == 0:
            return Verdict(self.name, False, f"transaction {txid} carries the root but is not mined: 0 confirmations", 0)
        if confirmations < self.config.confirmations:
            return Verdict(
                self.name, False, f"{confirmations} confirmations, {self.config.confirmations} required", confirmations
            )
        height = self.rpc.call("getblockheader", tx["blockhash"])["height"]
        detail = (
            f"root in output {vout} of {txid}, block {tx['blockhash']} (height {height}) on {node.chain}, "
            f"{confirmations} confirmations"
        )
        return Verdict(self.name, True, detail, confirmations)

    def status(self) -> dict[str, Any]:
        node = self.node()
        info = self.rpc.call("getblockchaininfo")
        try:
            balance: str | None = str(self._wallet().call("getbalance"))
        except RpcError:
            balance = None  # a Core node without a loaded wallet still verifies
        return {
            "network": self.name,
            "endpoint": self.endpoint,
            "chain": node.chain,
            "dialect": node.dialect.name,
            "subversion": node.subversion,
            "blocks": info["blocks"],
            "best_block_hash": info["bestblockhash"],
            "wallet": self.config.wallet,
            "balance": balance,
            "confirmations_required": self.config.confirmations,
        }

    def node(self) -> NodeInfo:
        """Chain and dialect of the node, asked once; a node on another chain is a `ConfigError`."""
        if self._node is None:
            chain = self.rpc.call("getblockchaininfo")["chain"]
            if chain != self.config.chain:
                raise ConfigError(f"Bitcoin node at {self.endpoint} is on chain {chain!r}, expected {self.config.chain!r}")
            subversion = str(self.rpc.call("getnetworkinfo").get("subversion", ""))
            if self.config.dialect == "auto":
                dialect = dialect_from_subversion(subversion)
            else:
                dialect = dialect_named(self.config.dialect)
            if self.config.wallet and not dialect.named_wallets:
                raise ConfigError(f"Bitcoin wallet {self.config.wallet!r}: the {dialect.name} node has one unnamed wallet, leave it unset")
            self._node = NodeInfo(chain, dialect, subversion)
        return self._node

    # ------------------------------------------------------------------ internals

    def _wallet(self) -> BitcoinRpc:
        """The RPC endpoint of the configured wallet, loaded (or created) on first use."""
        if not self.config.wallet:
            return self.rpc
        if not self._wallet_ready:
            name = self.config.wallet
            if name not in self.rpc.call("listwallets"):
                try:
                    self.rpc.call("loadwallet", name)
                except RpcError as e:
                    if e.code != RPC_WALLET_NOT_FOUND:
                        raise
                    self.rpc.call("createwallet", name)
            self._wallet_ready = True
        return self.rpc.for_wallet(self.config.wallet)

    def _send(self, raw_tx: str, txid: str, vout: int, root: bytes, node: NodeInfo) -> Receipt:
        try:
            sent = self.rpc.call("sendrawtransaction", raw_tx, node.dialect.send_guard(self.config.max_fee_rate))
        except RpcError as e:
            if e.code == RPC_VERIFY_ERROR:
                raise StaleTransactionError(f"transaction {txid} cannot be sent: {e.rpc_message}") from None
            raise
        if sent != txid:
            raise AnchorError(f"the node answered txid {sent} for transaction {txid}")
        location = {"chain": node.chain, "txid": txid, "vout": vout}
        reason = f"0 of {self.config.confirmations} confirmations"
        return Receipt(self.name, root, AnchorState.SUBMITTED, location, confirmations=0, reason=reason)

    def _transaction(self, txid: str) -> dict[str, Any] | None:
        """The decoded transaction (with confirmations and block hash once mined), None if the
        node knows no such transaction."""
        try:
            return self.rpc.call("getrawtransaction", txid, True)
        except RpcError as e:
            if e.code == RPC_INVALID_ADDRESS_OR_KEY:
                return None
            raise

    @staticmethod
    def _data_output(tx: Mapping[str, Any], root: bytes) -> int | None:
        for output in tx.get("vout", []):
            script = bytes.fromhex(output.get("scriptPubKey", {}).get("hex", ""))
            if root_from_script(script) == root:
                return int(output["n"])
        return None


class MinedLocally(BitcoinAnchor):
    """The embedded regtest node, where nobody else mines: after each broadcast, mine the blocks
    that confirm it (real blocks on a real regtest chain; nothing is assumed)."""

    def __init__(self, backend: BitcoinAnchor, node: Any) -> None:
        self.__dict__.update(backend.__dict__)
        self._regtest = node

    def broadcast(self, root: bytes, raw_tx: str) -> Receipt:
        receipt = super().broadcast(root, raw_tx)
        if self.node().chain != "regtest":
            raise ConfigError("mining blocks to confirm anchors is for the embedded regtest node only")
        self._regtest.mine(self.config.confirmations)
        return self.refresh(receipt)


def connect(config: BitcoinConfig | None = None, credentials: Credentials | None = None) -> BitcoinAnchor:
    """A `BitcoinAnchor` from `config` (default: the embedded regtest node; the configuration's
    `BitcoinConfig.of(settings)` gives it from file, environment and flags). With url "local", the
    embedded regtest node is started if it is not running and its cookie file is the default
    credential. Credentials: the argument, else `$BITCOIN_RPC_USER`/`$BITCOIN_RPC_PASSWORD`,
    else `$BITCOIN_RPC_COOKIE`."""
    config = config or BitcoinConfig()
    default_cookie = None
    if config.url == LOCAL:
        from . import node as bitcoin_node

        node = bitcoin_node.default_node()
        node.ensure_running()
        config = replace(config, url=node.url)
        default_cookie = node.cookie_file
    return BitcoinAnchor(config, credentials or credentials_from_environment(default_cookie=default_cookie))
