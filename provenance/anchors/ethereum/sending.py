"""Writing anchors: a transaction built (its gas, fees and nonce asked in one JSON-RPC batch),
signed, sent, and its receipt awaited to the confirmations asked."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Callable, TypeVar

from ...errors import AnchorError, ConfigError
from ...record.receipts import AnchorState, Receipt
from . import rpc
from .answers import _checksummed, _wire
from .calldata import AnchorInfo, decode_anchor_of, encode_anchor_of, hex_data, to_bytes, to_int
from .errors import _NotFetched, _revert_reason, _transport_reason
from .keys import NodeSigner, Signer, SignsLocally

T = TypeVar("T")
FIRST_POLL_S, MAX_POLL_S = 0.001, 0.5  # receipt polling: soon after sending (anvil mines in ~4 ms), then less and less often


class TransactionSending:
    """The sending half of `EthereumAnchor` (`backend.py`): transactions and their receipts."""

    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise ConfigError(
                "no Ethereum signer: set ETH_PRIVATE_KEY or PROVENANCE_ETH_ACCOUNT (an Ape keystore alias)"
            )
        return self.signer

    def _send(self, data: bytes, tx: dict[str, Any] | None = None) -> bytes:
        """Sign and send one call of this contract (its calldata; `tx` as `_prepare` built it, or
        built here) from the signer; returns the transaction hash the node gives back."""
        signer = self._require_signer()
        if tx is None:
            tx = self._prepare(data)[1]
        assert tx is not None
        if isinstance(signer, NodeSigner):
            return self._request("eth_sendTransaction", _wire(tx), decode=to_bytes)
        if isinstance(signer, SignsLocally):
            return self._request("eth_sendRawTransaction", hex_data(signer.sign_transaction(tx)), decode=to_bytes)
        return self._rpc(lambda: bytes(signer.send(self.w3, tx)))

    def _prepare(self, data: bytes, anchored: bytes | None = None) -> tuple[AnchorInfo | None, dict[str, Any] | None]:
        """The transaction for this signer (with its nonce where it signs locally), and, with
        `anchored`, this signer's anchor of that root; asked in one batch. An anchored root gets
        no transaction (its gas estimate reverts): (info, None)."""
        signer = self._require_signer()
        nonce = isinstance(signer, SignsLocally) and not isinstance(signer, NodeSigner)
        if anchored is None:
            return None, self._transaction(data, nonce=nonce)
        call = ("eth_call", [{"to": self.address, "data": hex_data(encode_anchor_of(_checksummed(signer.address), anchored))}, "latest"])
        built, first = self._transaction(data, nonce=nonce, first=call)
        info = self._rpc(lambda: decode_anchor_of(to_bytes(rpc.result_of(first, self.endpoint, "eth_call"))))
        return (info, None) if info.anchored else (info, built())

    def _transaction(self, data: bytes, nonce: bool = False, first: tuple[str, list[Any]] | None = None) -> Any:
        """The transaction web3.py's `build_transaction` makes for this call from the signer:
        gas from the settings or `eth_estimateGas`; fees from the settings (legacy `gasPrice`),
        else EIP-1559 with `maxFeePerGas` = 2 * the latest base fee + the node's priority fee,
        else (a chain without base fees) the node's `eth_gasPrice`; with `nonce`, the signer's
        pending nonce. What it asks the node goes in one batch (one round trip, not four).
        With `first` (a call to ask in the same batch): (a function that builds the transaction
        from the answers, `first`'s answer)."""
        signer = self._require_signer()
        tx: dict[str, Any] = {"from": _checksummed(signer.address), "chainId": self.chain_id}
        if self.gas_price is not None:
            tx["gasPrice"] = self.gas_price
        tx |= {"to": self.address, "data": hex_data(data)}
        calls: dict[str, tuple[str, list[Any]]] = {"first": first} if first is not None else {}
        if self.gas_limit is None:
            calls["gas"] = ("eth_estimateGas", [_wire(tx)])
        if self.gas_price is None:
            calls["block"] = ("eth_getBlockByNumber", ["latest", False])
            calls["tip"] = ("eth_maxPriorityFeePerGas", [])
        if nonce:
            calls["nonce"] = ("eth_getTransactionCount", [tx["from"], "pending"])
        answers = dict(zip(calls, self._rpc(lambda: self.rpc.answers(list(calls.values()))))) if calls else {}

        def result(name: str, decode: Callable[[Any], T] | None = None) -> Any:
            value = self._rpc(lambda: rpc.result_of(answers[name], self.endpoint, calls[name][0]))
            return value if decode is None else self._rpc(lambda: decode(value))

        def built() -> dict[str, Any]:
            filled: dict[str, Any] = {"value": 0}
            filled["gas"] = self.gas_limit if self.gas_limit is not None else result("gas", to_int)
            if self.gas_price is None:
                filled |= self._fees(result("block"), answers["tip"])
            if nonce:
                filled["nonce"] = result("nonce", to_int)
            return filled | tx

        return (built, answers["first"]) if first is not None else built()

    def _fees(self, block: Any, tip_answer: Any) -> dict[str, int]:
        base_fee = block.get("baseFeePerGas") if isinstance(block, Mapping) else None
        if base_fee is None:
            return {"gasPrice": self._request("eth_gasPrice", decode=to_int)}
        try:
            tip = to_int(rpc.result_of(tip_answer, self.endpoint, "eth_maxPriorityFeePerGas"))
        except rpc.RpcError:
            # a node without the method: web3.py's own estimate from eth_feeHistory
            tip = self._rpc(lambda: int(self.w3.eth.max_priority_fee))
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": tip + 2 * self._rpc(lambda: to_int(base_fee))}

    def _await_receipt(self, tx_hash: str, what: str = "anchor") -> tuple[int, bytes, int] | None:
        """Block number and hash of the transaction once mined, and the chain's head then (asked
        in the same batch), polling until `receipt_timeout` (None if it is not mined by then); an
        `AnchorError` if it reverted. `_NotFetched` when the node cannot be reached."""
        deadline = time.monotonic() + self.receipt_timeout
        pause = FIRST_POLL_S

        def fetch() -> Any:
            try:
                receipt, head = self.rpc.answers([("eth_getTransactionReceipt", [tx_hash]), ("eth_blockNumber", [])])
                return rpc.result_of(receipt, self.endpoint, "eth_getTransactionReceipt"), head
            except rpc.TransportError as e:
                raise _NotFetched(e.reason) from None
            except OSError as e:  # a provider of web3's own (requests' errors are OSErrors)
                raise _NotFetched(_transport_reason(e)) from None

        while True:
            tx_receipt, head = self._rpc(fetch)  # other failures: one line, as any request's
            if tx_receipt is not None:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, MAX_POLL_S)
        fields = tx_receipt if isinstance(tx_receipt, Mapping) else {}
        block_number, status = self._rpc(lambda: (to_int(fields.get("blockNumber")), to_int(fields.get("status"))))
        if status != 1:
            raise AnchorError(f"{what} transaction {tx_hash} reverted in block {block_number}")
        head_number = self._rpc(lambda: to_int(rpc.result_of(head, self.endpoint, "eth_blockNumber")))
        return block_number, self._rpc(lambda: to_bytes(fields.get("blockHash"))), head_number

    def _with_confirmations(self, receipt: Receipt, head: int | None = None) -> Receipt:
        """`receipt` with its confirmations at `head` (the chain's head block, asked if None)."""
        block_number = receipt.location.get("block_number")
        if block_number is None:
            return receipt
        confirmations = (self._block_number() if head is None else head) - block_number + 1
        state = AnchorState.CONFIRMED if confirmations >= self.confirmations else AnchorState.SUBMITTED
        reason = None if state is AnchorState.CONFIRMED else f"{confirmations} of {self.confirmations} confirmations"
        return receipt.with_state(state, confirmations=confirmations, reason=reason)

    def _failure(self, e: rpc.RpcError) -> AnchorError:
        """The error for a JSON-RPC error answer: a revert of a call or a gas estimate as
        "transaction would revert: <why>", anything else as the answer's error object."""
        if e.method in ("eth_call", "eth_estimateGas"):
            why = _revert_reason(e.error)
            if why is not None:
                return AnchorError(f"transaction would revert: {why}")
        return e
