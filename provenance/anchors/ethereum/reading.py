"""Reading anchors back: a receipt verified against the contract (one batched round trip where it
can), an anchor found by root, inclusion proofs checked on-chain, the node's status."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    TransactionNotFound,
)
from web3.logs import DISCARD

from ...errors import AnchorError, FormatError
from ...merkle import Leaf, MultiProof, leaf_hash, parse_bytes32
from ...record import BATCH_MEMBER
from ...record.receipts import AnchorState, Receipt, Verdict
from .answers import _address
from .calldata import AnchorInfo, decode_anchor_of, encode_anchor_of, hex_data, to_bytes


class AnchorReading:
    """The reading half of `EthereumAnchor` (`backend.py`): every call here only asks the contract."""

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
