"""Ethereum anchor: roots in the `MLProvenance` contract, over any JSON-RPC endpoint.

An anchor belongs to `(submitter, root)`: the account that sent the anchoring transaction and the
root. Receipts name their submitter and contract; verification checks that submitter's anchor in
the receipt's own contract, so someone else's anchor of the same root (a front-run) neither helps
nor hurts, and a redeploy never breaks an old run.

Works with web3.py alone, so a verifier needs neither Ape nor the project's sources: the ABI and
bytecode ship in the package (`provenance.anchors.ethereum.contract`). Ape networks are used through their web3
connection (`EthereumAnchor(provider.web3, ...)`).

Anchoring runs beside training, so its hot path (`submit`, `await_mined`, `anchor_info`, the
confirmation count) makes plain JSON-RPC calls (`rpc`, calldata encoded in `calldata`): the same
requests and the same transaction as web3.py's `build_transaction` + send, without web3.py's
middleware (`make bench-anchoring`). Verification, events, logs, refresh and deployment use
web3.py, over the same transport (`rpc.RpcProvider`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any, Callable, Sequence, TypeVar

from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TransactionNotFound,
    Web3Exception,
)

from . import deployments, legacy, node as localchain, rpc
from .web3_provider import for_web3, web3_for
from .calldata import AnchorInfo, BadAnswer, decode_anchor_of, encode_anchor, encode_anchor_of, hex_data, to_bytes, to_int
from .contract import artifact, is_trusted_runtime, runtime
from .settings import EthereumSettings
from ...errors import AnchorError, ConfigError, FormatError, NotDeployedError, one_line, reason
from .keys import NodeSigner, Signer, SignsLocally, signer_from_environment
from ...merkle import Leaf, MerkleTree, MultiProof, leaf_hash, parse_bytes32
from ..base import ZERO_ROOT, AnchorBackend, check_root, redact_url
from ...record import BATCH_MEMBER
from ...record.receipts import AnchorState, Receipt, Verdict

T = TypeVar("T")
FIRST_POLL_S, MAX_POLL_S = 0.001, 0.5  # receipt polling: soon after sending (anvil mines in ~4 ms), then less and less often

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


class EthereumAnchor(AnchorBackend):
    """Anchors roots in one deployed `MLProvenance` contract and checks them later (in the
    contract each receipt names)."""

    name = "ethereum"

    def __init__(
        self,
        w3: Web3,
        contract_address: str,
        signer: Signer | None = None,
        *,
        confirmations: int = 1,
        receipt_timeout: float = 120.0,
        endpoint: str = "web3 provider",
        gas_limit: int | None = None,
        gas_price: int | str | None = None,
        request_timeout: float | None = None,
    ) -> None:
        """`request_timeout` (seconds) bounds each hot-path request; None: the provider's own."""
        if confirmations < 1:
            raise ConfigError(f"confirmations: expected at least 1, found {confirmations}")
        EthereumSettings.check("", gas_limit=gas_limit, gas_price="auto" if gas_price is None else gas_price)
        self.w3 = w3
        self.endpoint = endpoint
        self.signer = signer
        self.confirmations = confirmations
        self.receipt_timeout = receipt_timeout
        self.gas_limit = gas_limit
        self.gas_price = None if gas_price == "auto" else gas_price
        self.rpc = for_web3(w3, endpoint, request_timeout)
        self.chain_id = _check_chain_id(self._request("eth_chainId", decode=_big_int), endpoint)
        self.address = Web3.to_checksum_address(contract_address)
        self._contracts: dict[str, Contract] = {}
        self._checked: set[str] = set()
        self._check_code(self.address)  # a wrong address fails here, before anything is sent

    @property
    def contract(self) -> Contract:
        """web3.py's view of this backend's contract (events, views), made when first used: the
        anchoring hot path encodes its calls itself (`calldata.py`)."""
        return self._contract_at(self.address)

    # ------------------------------------------------------------------ identity

    @property
    def signer_address(self) -> str | None:
        """The checksummed address this backend anchors from (None without a signer)."""
        return _checksummed(self.signer.address) if self.signer is not None else None

    @property
    def destination(self) -> str:
        """Where anchors go, for the outbox: `ethereum:<chain_id>:<contract>`."""
        return f"ethereum:{self.chain_id}:{self.address}"

    # ------------------------------------------------------------------ writes

    def anchor(self, root: bytes, record: bytes = b"", prev_root: bytes = ZERO_ROOT) -> Receipt:
        """Anchor `root` for this signer; the record's sha2-256 digest goes into the event.
        Idempotent: a root this signer already anchored returns the receipt of the transaction
        that anchored it. Anyone else's anchor of `root` plays no part. `submit` then
        `await_mined`."""
        receipt = self.submit(root, record, prev_root)
        return self.await_mined(receipt) if receipt.state is AnchorState.SUBMITTED and "block_number" not in receipt.location else receipt

    def submit(self, root: bytes, record: bytes = b"", prev_root: bytes = ZERO_ROOT) -> Receipt:
        """Send the anchor transaction and return at once, `submitted` with its hash (not mined
        yet as far as this call knows); or the receipt of an anchor this signer already made."""
        check_root(root)
        signer = self._require_signer()
        record_digest = hashlib.sha256(record).digest() if record else ZERO_ROOT
        data = encode_anchor(root, prev_root, record_digest)
        # whether this signer anchored `root` already, asked in the same batch as the transaction's gas and fees
        info, tx = self._prepare(data, anchored=root)
        if info is not None and info.anchored:
            existing = self.find_anchor(root)
            if existing is not None:
                if info.revoked:
                    raise RefusedError(
                        f"root 0x{root.hex()} was anchored by {signer.address} and revoked: expected a root that can be "
                        "anchored, found a revoked one (a revoked anchor is never renewed; anchor a new run)"
                    )
                return existing
            tx = None  # its anchoring event not found: built anew, the contract has the last word
        tx_hash = self._send(data, tx)
        location = {
            "chain_id": self.chain_id,
            "contract": self.address,
            "submitter": signer.address,
            "tx_hash": "0x" + tx_hash.hex(),
            "record_digest": "0x" + record_digest.hex(),
            "prev_root": "0x" + prev_root.hex(),
        }
        return Receipt(self.name, root, AnchorState.SUBMITTED, location, reason="not mined yet")

    def await_mined(self, receipt: Receipt) -> Receipt:
        """Wait (up to `receipt_timeout`) for a transaction `submit` sent, and return its receipt
        with block and confirmations; still `submitted` if it is not mined by then."""
        location = dict(receipt.location)
        tx_hash = location["tx_hash"]
        root = receipt.root
        try:
            mined = self._await_receipt(tx_hash)
        except _NotFetched as e:
            return Receipt(self.name, root, AnchorState.SUBMITTED, location, reason=f"receipt not fetched: {e.reason}")
        if mined is None:
            return Receipt(self.name, root, AnchorState.SUBMITTED, location, reason="not mined yet")
        block_number, block_hash, head = mined
        location |= {"block_number": block_number, "block_hash": "0x" + block_hash.hex()}
        return self._with_confirmations(Receipt(self.name, root, AnchorState.SUBMITTED, location), head)

    def revoke(self, root: bytes, reason: str) -> str:
        """Revoke this signer's own anchor of `root` with `reason`; returns the transaction hash.
        Every scoped check of that anchor turns false and verification reports it as failed."""
        check_root(root)
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError("revoke: expected a non-empty reason, found none")
        signer = self._require_signer()
        info = self.anchor_info(root, signer.address)
        if not info.anchored:
            raise RefusedError(f"revoke: expected an anchor of 0x{root.hex()} by {signer.address} in {self.address}, found none")
        if info.revoked:
            raise RefusedError(f"revoke: the anchor of 0x{root.hex()} by {signer.address} is already revoked")
        tx_hash = self._send(bytes.fromhex(self.contract.encode_abi("revoke", [root, reason])[2:]))
        try:
            mined = self._await_receipt("0x" + tx_hash.hex(), what="revoke")
        except _NotFetched as e:
            raise AnchorError(f"revoke transaction 0x{tx_hash.hex()} sent; receipt not fetched: {e.reason}") from None
        if mined is None:
            raise AnchorError(f"revoke transaction 0x{tx_hash.hex()} sent but not mined within {self.receipt_timeout:.0f} s")
        return "0x" + tx_hash.hex()

    def refresh(self, receipt: Receipt) -> Receipt:
        """The receipt with its confirmations and state brought up to date from the chain."""
        if "tx_hash" not in receipt.location:
            return receipt
        try:
            tx_receipt = self._rpc(lambda: self.w3.eth.get_transaction_receipt(receipt.location["tx_hash"]))
        except TransactionNotFound:
            return receipt.with_state(AnchorState.PENDING, confirmations=0, reason="transaction not found (dropped or reorged out)")
        location = dict(receipt.location) | {
            "block_number": tx_receipt["blockNumber"],
            "block_hash": "0x" + bytes(tx_receipt["blockHash"]).hex(),
        }
        if "submitter" not in location:
            location["submitter"] = Web3.to_checksum_address(tx_receipt["from"])
        return self._with_confirmations(receipt.with_state(receipt.state, location=location))

    # ------------------------------------------------------------------ verification

    def verify(self, receipt: Receipt, root: bytes) -> Verdict:
        """Check that the receipt's transaction anchored `root` for the receipt's submitter in the
        receipt's own contract, in a block that is still canonical, with enough confirmations, and
        that the anchor is not revoked. The facts returned are read from the chain. For a batched
        receipt: the batch root is anchored so, and the contract accepts the proof of `root`'s
        `batch.member` leaf against that submitter's anchor."""
        try:
            if "batch_root" in receipt.location:
                return self._verify_batched(receipt, root)
            return self._verify(receipt, root)
        except (AnchorError, FormatError) as e:
            return Verdict.cannot_check(self.name, f"cannot check: {e}")

    def _verify_batched(self, receipt: Receipt, root: bytes) -> Verdict:
        if receipt.root != root:
            return Verdict(self.name, False, f"receipt is for root 0x{receipt.root.hex()}, expected 0x{root.hex()}")
        batch_root = parse_bytes32(receipt.location["batch_root"], what="batch root")
        leaf = Leaf.from_json(receipt.location.get("batch_leaf"))
        proof = receipt.location.get("batch_proof", [])
        if not isinstance(proof, list):
            raise FormatError(f"batch proof: expected a list of hashes, found {type(proof).__name__}")
        nodes = [parse_bytes32(p, what="batch proof node") for p in proof]
        if leaf.kind != BATCH_MEMBER or leaf.digest != root:
            return Verdict(self.name, False, f"batch leaf {leaf.label} does not hold root 0x{root.hex()}")
        batch = self._verify(replace(receipt, root=batch_root), batch_root)
        facts = (dict(batch.facts) | {"batch_root": "0x" + batch_root.hex()}) if batch.facts else {}
        if not batch.ok:
            return Verdict(self.name, False, f"batch 0x{batch_root.hex()}: {batch.detail}", batch.confirmations, facts)
        contract = self._contract_at(facts["contract"])
        if not self._call(contract.functions.verifyLeafInclusion(
            facts["submitter"], batch_root, nodes, leaf.kind, leaf.name, leaf.digest, leaf.size
        )):
            return Verdict(self.name, False, f"the contract rejects the proof of {leaf.label} in batch 0x{batch_root.hex()}",
                           batch.confirmations, facts)
        return Verdict(self.name, True, f"in batch 0x{batch_root.hex()} ({leaf.label}, proof checked on-chain); {batch.detail}",
                       batch.confirmations, facts)

    def _verify(self, receipt: Receipt, root: bytes) -> Verdict:
        loc = receipt.location
        if receipt.root != root:
            return Verdict(self.name, False, f"receipt is for root 0x{receipt.root.hex()}, expected 0x{root.hex()}")
        if loc.get("chain_id") != self.chain_id:
            return Verdict.cannot_check(self.name, f"cannot check: receipt is for chain {loc.get('chain_id')}, connected to chain {self.chain_id}")
        if "tx_hash" not in loc:
            return Verdict(self.name, False, f"receipt is {receipt.state.value} with no transaction to check")
        contract = self._contract_at(_address(loc.get("contract"), "receipt contract"))
        claimed = _address(loc["submitter"], "receipt submitter") if loc.get("submitter") is not None else None
        try:
            tx_receipt = self._rpc(lambda: self.w3.eth.get_transaction_receipt(loc["tx_hash"]))
        except TransactionNotFound:
            return Verdict(self.name, False, f"transaction {loc['tx_hash']} not found on chain {self.chain_id}")
        if tx_receipt["status"] != 1:
            return Verdict(self.name, False, f"transaction {loc['tx_hash']} reverted")
        sender = Web3.to_checksum_address(tx_receipt["from"])
        if claimed is not None and sender != claimed:
            return Verdict(self.name, False, f"transaction {loc['tx_hash']} was sent by {sender}, the receipt names {claimed}")
        block_number = tx_receipt["blockNumber"]
        canonical = self._rpc(lambda: self.w3.eth.get_block(block_number))
        if canonical["hash"] != tx_receipt["blockHash"]:
            return Verdict(self.name, False, f"block {block_number} of transaction {loc['tx_hash']} is no longer canonical")
        events = contract.events.RootAnchored().process_receipt(tx_receipt, errors=DISCARD)
        event = next(
            (e for e in events if e["args"]["root"] == root and e["address"] == contract.address and e["args"]["submitter"] == sender),
            None,
        )
        if event is None:
            return Verdict(self.name, False, f"transaction {loc['tx_hash']} emitted no RootAnchored for this root by {sender} in {contract.address}")
        info = self.anchor_info(root, sender, contract)
        if not info.anchored or info.block_number != block_number:
            return Verdict(self.name, False, f"contract {contract.address} holds no anchor of 0x{root.hex()} by {sender} from block {block_number}")
        facts = {
            "submitter": sender,
            "chain_id": self.chain_id,
            "contract": contract.address,
            "block_number": block_number,
            "block_hash": "0x" + bytes(tx_receipt["blockHash"]).hex(),
            "timestamp": info.timestamp,
            "record_digest": "0x" + bytes(event["args"]["recordDigest"]).hex(),
            "prev_root": "0x" + bytes(event["args"]["prevRoot"]).hex(),
            "revoked": info.revoked,
        }
        confirmations = self._block_number() - block_number + 1
        if info.revoked:
            return Verdict(self.name, False, f"revoked by {sender}: {self._revocation_reason(contract, root, sender, block_number)}",
                           confirmations, facts)
        for key in ("record_digest", "prev_root"):
            if key in loc and str(loc[key]).lower() != facts[key]:
                return Verdict(self.name, False, f"the receipt's {key} {loc[key]} differs from the chain's {facts[key]}", confirmations, facts)
        if confirmations < self.confirmations:
            return Verdict(self.name, False, f"{confirmations} confirmations, {self.confirmations} required", confirmations, facts)
        detail = f"anchored in block {block_number} of chain {self.chain_id} by {sender} in {contract.address}, {confirmations} confirmations"
        return Verdict(self.name, True, detail, confirmations, facts)

    def find_anchor(self, root: bytes) -> Receipt | None:
        """The receipt of the transaction by which this signer anchored `root` in this contract,
        if any. Someone else's anchor of `root` is neither found nor blocking."""
        submitter = self.signer_address
        if submitter is None:
            return None
        info = self.anchor_info(root, submitter)
        if not info.anchored:
            return None
        logs = self._rpc(
            lambda: self.contract.events.RootAnchored().get_logs(
                from_block=info.block_number, to_block=info.block_number,
                argument_filters={"root": root, "submitter": submitter},
            )
        )
        if not logs:
            raise AnchorError(f"root 0x{root.hex()} is anchored by {submitter} in block {info.block_number} but its event was not found")
        log = logs[0]
        location = {
            "chain_id": self.chain_id,
            "contract": self.address,
            "submitter": submitter,
            "tx_hash": "0x" + bytes(log["transactionHash"]).hex(),
            "record_digest": "0x" + bytes(log["args"]["recordDigest"]).hex(),
            "prev_root": "0x" + bytes(log["args"]["prevRoot"]).hex(),
            "block_number": log["blockNumber"],
            "block_hash": "0x" + bytes(log["blockHash"]).hex(),
        }
        return self._with_confirmations(Receipt(self.name, root, AnchorState.SUBMITTED, location))

    # ------------------------------------------------------------------ reads

    def anchor_info(self, root: bytes, submitter: str | None = None, contract: Contract | None = None) -> AnchorInfo:
        """`submitter`'s (default: this signer's) anchor of `root` (`anchorOf`, in this contract
        or `contract`)."""
        call = {"to": (contract or self.contract).address, "data": hex_data(encode_anchor_of(self._submitter(submitter), root))}
        return self._request("eth_call", call, "latest", decode=lambda output: decode_anchor_of(to_bytes(output)))

    def is_anchored(self, root: bytes, submitter: str | None = None) -> bool:
        """Whether `submitter` (default: this signer) anchored `root` and has not revoked it."""
        return self.anchor_info(root, submitter).live

    def verify_inclusion(self, root: bytes, proof: Sequence[bytes], leaf: Leaf, submitter: str | None = None) -> bool:
        """On-chain check (eth_call) of a proof for a leaf hashed here, against `submitter`'s
        (default: this signer's) live anchor of `root`."""
        call = self.contract.functions.verifyInclusion(self._submitter(submitter), root, list(proof), leaf_hash(leaf))
        return bool(self._call(call))

    def verify_leaf_inclusion(self, root: bytes, proof: Sequence[bytes], leaf: Leaf, submitter: str | None = None) -> bool:
        """On-chain check of a proof for a leaf that the contract hashes itself."""
        call = self.contract.functions.verifyLeafInclusion(
            self._submitter(submitter), root, list(proof), leaf.kind, leaf.name, leaf.digest, leaf.size
        )
        return bool(self._call(call))

    def verify_multi_inclusion(self, root: bytes, multiproof: MultiProof, submitter: str | None = None) -> bool:
        leaves = [leaf_hash(v) for v in multiproof.leaves]
        call = self.contract.functions.verifyMultiInclusion(
            self._submitter(submitter), root, list(multiproof.proof), list(multiproof.proof_flags), leaves
        )
        return bool(self._call(call))

    def verify_nested_inclusion(self, run_root: bytes, shard_proof: Sequence[bytes], shard_leaf: Leaf,
                                sample_proof: Sequence[bytes], sample: Leaf, submitter: str | None = None) -> bool:
        """On-chain check (`verifyNestedInclusion`) of a sample's proof to its shard root and the
        shard leaf's proof to `submitter`'s (default: this signer's) live anchor of `run_root`."""
        call = self.contract.functions.verifyNestedInclusion(
            self._submitter(submitter), run_root, list(shard_proof), (shard_leaf.name, shard_leaf.digest, shard_leaf.size),
            list(sample_proof), (sample.kind, sample.name, sample.digest, sample.size))
        return bool(self._call(call))

    def onchain_leaf_hash(self, leaf: Leaf) -> bytes:
        return bytes(self._call(self.contract.functions.leafHash(leaf.kind, leaf.name, leaf.digest, leaf.size)))

    def status(self) -> dict[str, Any]:
        return {
            "network": self.name,
            "endpoint": self.endpoint,
            "chain_id": self.chain_id,
            "contract": self.address,
            "block_number": self._block_number(),
            "signer": self.signer_address,
            "confirmations_required": self.confirmations,
        }

    # ------------------------------------------------------------------ internals

    def _contract_at(self, address: str) -> Contract:
        """The MLProvenance contract at `address` on this chain (code checked once)."""
        address = _checksummed(address)
        if address not in self._contracts:
            self._check_code(address)
            self._contracts[address] = self.w3.eth.contract(address=address, abi=artifact()["abi"])
        return self._contracts[address]

    def _check_code(self, address: str) -> None:
        """That `address` holds this package's MLProvenance (asked once per address)."""
        if address in self._checked:
            return
        code = self._request("eth_getCode", address, "latest", decode=to_bytes)
        if not code:
            raise AnchorError(
                f"no contract code at {address} on chain {self.chain_id}: expected MLProvenance "
                "(deploy it with `ape run deploy --network ...` or pass the right address)"
            )
        # A receipt (or config) may name any address; only the code this package ships is
        # trusted to mean what MLProvenance's events and views say.
        if not is_trusted_runtime(code):
            if legacy.is_guide_registry(code):
                raise legacy.refusal(address, self.chain_id)  # a ConfigError: the anchor fails, not pending
            raise ForeignContractError(
                f"the contract at {address} on chain {self.chain_id} is not this version of MLProvenance: "
                "expected its code to equal the packaged runtime bytecode, found other code"
            )
        self._checked.add(address)

    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise ConfigError(
                "no Ethereum signer: set ETH_PRIVATE_KEY or PROVENANCE_ETH_ACCOUNT (an Ape keystore alias)"
            )
        return self.signer

    def _submitter(self, submitter: str | None) -> str:
        if submitter is not None:
            return _address(submitter, "submitter")
        if self.signer is None:
            raise ConfigError("expected a submitter address to check against (no signer configured), found none")
        return _checksummed(self.signer.address)

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

    def _block_number(self) -> int:
        return self._request("eth_blockNumber", decode=to_int)

    def _request(self, method: str, *params: Any, decode: Callable[[Any], T] | None = None) -> Any:
        """One hot-path JSON-RPC call, its result decoded, failures as `_rpc` words them."""
        result = self._rpc(lambda: self.rpc.call(method, list(params)))
        return result if decode is None else self._rpc(lambda: decode(result))

    def _revocation_reason(self, contract: Contract, root: bytes, submitter: str, from_block: int) -> str:
        logs = self._rpc(
            lambda: contract.events.AnchorRevoked().get_logs(
                from_block=from_block, to_block="latest", argument_filters={"root": root, "submitter": submitter}
            )
        )
        return str(logs[0]["args"]["reason"]) if logs else "(reason not found in the contract's events)"

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

    def _call(self, fn: Any) -> Any:
        return self._rpc(lambda: fn.call())

    def _rpc(self, fn: Callable[[], T]) -> T:
        """Run one RPC interaction, turning transport failures and reverts into one-line errors."""
        try:
            return fn()
        except rpc.RpcError as e:
            raise self._failure(e) from None
        except BadAnswer as e:
            raise AnchorError(f"Ethereum RPC at {self.endpoint} failed: {e}") from None
        except (ContractCustomError, ContractLogicError) as e:
            raise _would_revert(e) from None
        except OSError as e:  # a provider of web3's own (requests' errors are OSErrors)
            raise AnchorError(f"cannot reach Ethereum RPC at {self.endpoint}: {_transport_reason(e)}") from None
        except TransactionNotFound:
            raise
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise AnchorError(f"Ethereum RPC at {self.endpoint}: expected a JSON-RPC answer, found {_not_json(e)}") from None
        except Web3Exception as e:
            raise AnchorError(f"Ethereum RPC at {self.endpoint} failed: {reason(e)}") from None


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


@lru_cache(maxsize=64)
def _checksummed(address: str) -> str:
    """EIP-55 form of an address (cached: the signer's and contract's are asked for per anchor)."""
    return Web3.to_checksum_address(address)


def _wire(tx: dict[str, Any]) -> dict[str, Any]:
    """A transaction as JSON-RPC takes it: quantities in 0x-hex."""
    return {k: hex(v) if isinstance(v, int) else v for k, v in tx.items()}


def connect(
    network: str = "local",
    *,
    contract_address: str | None = None,
    signer: Signer | None = None,
    confirmations: int = 1,
    request_timeout: float = 10.0,
    receipt_timeout: float = 120.0,
    gas_limit: int | None = None,
    gas_price: int | str | None = None,
    allow_start: bool = True,
    allow_deploy: bool = True,
) -> EthereumAnchor:
    """An `EthereumAnchor` for a network name: `local` (the embedded anvil, started if needed and
    `allow_start`, contract deployed if absent and `allow_deploy`) or an http(s):// JSON-RPC URL.
    The contract address comes from the argument, else the deployments file; the signer from the
    argument, else the environment (`ETH_PRIVATE_KEY`, `PROVENANCE_ETH_ACCOUNT`), else the node's
    first unlocked account. `gas_price`: "auto"/None for the node's suggestion, an int for wei."""
    deployments.load_all()  # a damaged deployments file is an error before any node is started
    if network == "local":
        url = localchain.ensure_running(start=allow_start)
    elif network.startswith(("http://", "https://")):
        url = network
    else:
        raise ConfigError(f"unknown Ethereum network {network!r}: expected 'local' or an http(s):// JSON-RPC URL")
    endpoint = redact_url(url)
    client = rpc.HttpRpc(url, timeout=request_timeout)
    w3 = web3_for(client)  # web3.py's calls take the same transport as the hot path
    signer = signer or signer_from_environment()
    try:
        chain_id = _check_chain_id(_big_int(client.call("eth_chainId", [])), endpoint)
        if signer is None:
            # No key in the environment: use an account the node itself unlocks, if it has one
            # (anvil, a dev node, your own node); public RPC endpoints have none.
            accounts = _node_accounts(client)
            signer = NodeSigner(_address(accounts[0], "the node's first account")) if accounts else None
        address = contract_address
        if address is None:
            known = deployments.lookup(chain_id)
            # on the embedded chain, a fresh one or one holding an earlier release: deploy this release
            if known is not None and (network != "local" or to_bytes(client.call("eth_getCode", [known.address, "latest"])) == runtime()):
                address = known.address
    except BadAnswer as e:
        raise AnchorError(f"Ethereum RPC at {endpoint} failed: {e}") from None
    if address is None and network == "local" and allow_deploy:
        if signer is None:
            raise ConfigError("no Ethereum signer to deploy MLProvenance on the local chain")
        address = deploy(w3, signer, network="local").address
    if address is None:
        raise NotDeployedError(
            f"no MLProvenance deployment known for chain {chain_id}: deploy one with "
            f"`ape run deploy --network ...` or pass the contract address"
        )
    return EthereumAnchor(
        w3, address, signer, confirmations=confirmations, receipt_timeout=receipt_timeout, endpoint=endpoint,
        gas_limit=gas_limit, gas_price=gas_price, request_timeout=request_timeout,
    )


def _big_int(value: Any) -> int:
    """A quantity of any size (a chain id is checked against its range after, naming its length)."""
    return to_int(value, max_digits=1000)


def _node_accounts(client: rpc.JsonRpc) -> list[Any]:
    """The accounts the node unlocks; none where it refuses to say (public endpoints may)."""
    try:
        accounts = client.call("eth_accounts", [])
    except rpc.RpcError:
        return []
    if not isinstance(accounts, list):
        raise BadAnswer(f"expected a list of accounts, found {str(accounts)[:20]!r}")
    return accounts


def deploy(w3: Web3, signer: Signer, network: str) -> deployments.Deployment:
    """Deploy MLProvenance from the packaged bytecode and record it in the deployments file."""
    factory = w3.eth.contract(abi=artifact()["abi"], bytecode=artifact()["bytecode"])
    tx = factory.constructor().build_transaction({"from": signer.address, "chainId": w3.eth.chain_id})
    tx_hash = signer.send(w3, tx)
    tx_receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    if tx_receipt["status"] != 1 or not tx_receipt["contractAddress"]:
        raise AnchorError(f"deploying MLProvenance failed in transaction 0x{tx_hash.hex()}")
    deployment = deployments.Deployment(
        chain_id=w3.eth.chain_id,
        address=tx_receipt["contractAddress"],
        tx_hash="0x" + tx_hash.hex(),
        block_number=tx_receipt["blockNumber"],
        network=network,
    )
    deployments.record(deployment)
    return deployment


def _address(value: Any, what: str) -> str:
    """A checksummed address, or a one-line FormatError."""
    if not isinstance(value, str) or not Web3.is_address(value):
        raise FormatError(f"{what}: expected a 0x-prefixed 20-byte address, found {str(value)[:50]!r}")
    return Web3.to_checksum_address(value)


def _not_json(e: ValueError) -> str:
    return "bytes that are not UTF-8" if isinstance(e, UnicodeDecodeError) else "text that is not JSON"


MAX_CHAIN_ID = 2**63 - 37  # EIP-2294: the largest chain id a signed transaction can carry


def _check_chain_id(chain_id: int, endpoint: str) -> int:
    if not 1 <= chain_id <= MAX_CHAIN_ID:
        found = chain_id if len(str(chain_id)) <= 20 else f"a number of {len(str(chain_id))} digits"
        raise AnchorError(f"Ethereum RPC at {endpoint}: expected a chain id in 1..{MAX_CHAIN_ID} (EIP-2294), found {found}")
    return chain_id


def _transport_reason(e: BaseException) -> str:
    """Why a request failed, without echoing the URL (it may carry an API key)."""
    if isinstance(e, TimeoutError) or "Timeout" in type(e).__name__:  # requests' Timeouts too
        return "the request timed out"
    if isinstance(e, ConnectionError) or "Connection" in type(e).__name__:
        return "connection refused or host unreachable"
    return type(e).__name__
