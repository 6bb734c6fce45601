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
from typing import Any, Callable, TypeVar

from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TransactionNotFound,
    Web3Exception,
)

from . import deployments, legacy, node as localchain, rpc
from .web3_provider import for_web3, web3_for
from .calldata import BadAnswer, encode_anchor, to_bytes, to_int
from .contract import artifact, is_trusted_runtime, runtime
from .settings import EthereumSettings
from ...errors import AnchorError, ConfigError, NotDeployedError, reason
from .keys import NodeSigner, Signer, signer_from_environment
from ..base import ZERO_ROOT, AnchorBackend, check_root, redact_url
from ...record.receipts import AnchorState, Receipt
from .answers import MAX_CHAIN_ID, _address, _big_int, _check_chain_id, _checksummed  # noqa: F401 - MAX_CHAIN_ID: its old home
from .errors import ForeignContractError, RefusedError, _NotFetched, _not_json, _transport_reason, _would_revert
from .reading import AnchorReading
from .sending import FIRST_POLL_S, MAX_POLL_S, TransactionSending  # noqa: F401 - the polling pace: its old home

T = TypeVar("T")


class EthereumAnchor(AnchorReading, TransactionSending, AnchorBackend):
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

    # ------------------------------------------------------------------ reads

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

    def _submitter(self, submitter: str | None) -> str:
        if submitter is not None:
            return _address(submitter, "submitter")
        if self.signer is None:
            raise ConfigError("expected a submitter address to check against (no signer configured), found none")
        return _checksummed(self.signer.address)

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


