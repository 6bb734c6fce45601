"""The package's Bitcoin backend against a real regtest node (Bitcoin SV bitcoind): anchor, mine,
verify payload and confirmations, and the faults: unmined, wrong root, unknown txid, node down,
wrong credentials, insufficient funds, a node stopped mid-run."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from provenance.record.receipts import AnchorState, Receipt
from provenance.anchors.bitcoin.backend import BitcoinAnchor, BitcoinConfig
from provenance.anchors.bitcoin.dialects import SV
from provenance.anchors.bitcoin.offline import Utxo, build_anchor_tx, key_from_wif
from provenance.anchors.bitcoin.rpc import Credentials, RpcError
from provenance.errors import AnchorError, ConfigError, FormatError
from tests.support.bitcoin_node import free_port


def mined(anchor: BitcoinAnchor, node, receipt: Receipt, blocks: int = 1) -> Receipt:
    node.mine(blocks)
    return anchor.refresh(receipt)


def test_anchor_mine_verify(btc_anchor, bitcoin_node):
    root = os.urandom(32)
    receipt = btc_anchor.anchor(root, b'{"run": 1}')
    assert receipt.state is AnchorState.SUBMITTED and receipt.confirmations == 0
    assert receipt.location["chain"] == "regtest" and len(receipt.location["txid"]) == 64
    # The node holds exactly our script in the named output: OP_FALSE OP_RETURN <32 bytes> (SV).
    tx = bitcoin_node.rpc().call("getrawtransaction", receipt.location["txid"], True)
    assert tx["vout"][receipt.location["vout"]]["scriptPubKey"]["hex"] == "006a20" + root.hex()

    unmined = btc_anchor.verify(receipt, root)
    assert not unmined.ok and unmined.confirmations == 0
    assert "not mined: 0 confirmations" in unmined.detail

    receipt = mined(btc_anchor, bitcoin_node, receipt)
    assert receipt.state is AnchorState.CONFIRMED and receipt.confirmations == 1
    assert receipt.location["block_hash"] == bitcoin_node.rpc().call("getbestblockhash")
    assert receipt.location["block_height"] == bitcoin_node.rpc().call("getblockcount")
    verdict = btc_anchor.verify(receipt, root)
    assert verdict.ok, verdict.detail
    assert verdict.confirmations == 1
    assert Receipt.from_json(json.loads(json.dumps(receipt.to_json()))) == receipt


def test_verify_fails_for_a_different_root(btc_anchor, bitcoin_node):
    root, other = os.urandom(32), os.urandom(32)
    receipt = mined(btc_anchor, bitcoin_node, btc_anchor.anchor(root))
    assert "receipt is for root" in btc_anchor.verify(receipt, other).detail
    # A receipt forged to claim `other` for our transaction: the payload on chain says otherwise.
    forged = replace(receipt, root=other)
    verdict = btc_anchor.verify(forged, other)
    assert not verdict.ok
    assert verdict.detail.endswith(f"carries 0x{root.hex()}, expected 0x{other.hex()}")


def test_confirmations_are_counted_until_the_required_number(bitcoin_node):
    anchor = BitcoinAnchor(BitcoinConfig(url=bitcoin_node.url, confirmations=3), bitcoin_node.credentials())
    root = os.urandom(32)
    receipt = mined(anchor, bitcoin_node, anchor.anchor(root))
    assert receipt.state is AnchorState.SUBMITTED and receipt.reason == "1 of 3 confirmations"
    assert anchor.verify(receipt, root).detail == "1 confirmations, 3 required"
    receipt = mined(anchor, bitcoin_node, receipt, blocks=2)
    assert receipt.state is AnchorState.CONFIRMED and receipt.confirmations == 3
    assert anchor.verify(receipt, root).ok


def test_unknown_txid_and_wrong_output(btc_anchor, bitcoin_node):
    root = os.urandom(32)
    receipt = mined(btc_anchor, bitcoin_node, btc_anchor.anchor(root))
    ghost = replace(receipt, location=dict(receipt.location, txid="ab" * 32))
    assert btc_anchor.verify(ghost, root).detail == f"transaction {'ab' * 32} not found on regtest"
    dropped = btc_anchor.refresh(ghost)
    assert dropped.state is AnchorState.PENDING and "not found" in dropped.reason
    change = replace(receipt, location=dict(receipt.location, vout=1 - receipt.location["vout"]))
    assert "is not an OP_RETURN with 32 bytes" in btc_anchor.verify(change, root).detail
    missing = replace(receipt, location=dict(receipt.location, vout=7))
    assert btc_anchor.verify(missing, root).detail.endswith("has no output 7")
    other_chain = replace(receipt, location=dict(receipt.location, chain="main"))
    assert "receipt is for chain 'main', the node is on 'regtest'" in btc_anchor.verify(other_chain, root).detail
    no_tx = Receipt("bitcoin", root, AnchorState.PENDING)
    assert btc_anchor.verify(no_tx, root).detail == "receipt is pending with no transaction to check"


@pytest.mark.parametrize(
    "root, message",
    [(bytes(31), "root: expected 32 bytes, found 31"), (bytes(32), "root: expected a non-zero root"), ("ab" * 32, "found str")],
)
def test_bad_roots_are_rejected_before_any_rpc(root, message):
    nowhere = BitcoinAnchor(BitcoinConfig(url=f"http://127.0.0.1:{free_port()}"), Credentials("test", "u", "p"))
    with pytest.raises(FormatError, match=message):
        nowhere.anchor(root)


def test_node_down_is_an_error_or_a_failed_verdict_never_a_txid():
    port = free_port()
    anchor = BitcoinAnchor(BitcoinConfig(url=f"http://127.0.0.1:{port}"), Credentials("test", "u", "p"))
    with pytest.raises(AnchorError) as info:
        anchor.anchor(os.urandom(32))
    assert str(info.value) == f"cannot reach Bitcoin RPC at http://127.0.0.1:{port}: connection refused"
    receipt = Receipt("bitcoin", os.urandom(32), AnchorState.SUBMITTED, {"chain": "regtest", "txid": "cd" * 32, "vout": 0})
    verdict = anchor.verify(receipt, receipt.root)
    assert verdict.status.value == "cannot check" and verdict.detail.startswith("cannot check: cannot reach Bitcoin RPC")
    with pytest.raises(AnchorError):
        anchor.refresh(receipt)


def test_wrong_credentials_say_so_without_the_password(bitcoin_node):
    secret = "s3cret-pw"
    anchor = BitcoinAnchor(BitcoinConfig(url=bitcoin_node.url), Credentials("$BITCOIN_RPC_USER/$BITCOIN_RPC_PASSWORD", "u", secret))
    with pytest.raises(ConfigError) as info:
        anchor.anchor(os.urandom(32))
    message = str(info.value)
    assert message == (
        f"Bitcoin RPC at {bitcoin_node.url} rejected the credentials from $BITCOIN_RPC_USER/$BITCOIN_RPC_PASSWORD (HTTP 401)"
    )
    assert secret not in message and secret not in repr(anchor.rpc.credentials)


def test_node_on_another_chain_is_a_config_error(bitcoin_node):
    anchor = BitcoinAnchor(BitcoinConfig(url=bitcoin_node.url, chain="main"), bitcoin_node.credentials())
    with pytest.raises(ConfigError, match="is on chain 'regtest', expected 'main'"):
        anchor.anchor(os.urandom(32))


def test_insufficient_funds(btc_anchor, bitcoin_node):
    rpc = bitcoin_node.rpc()
    coins = [{"txid": u["txid"], "vout": u["vout"]} for u in rpc.call("listunspent", 0)]
    assert rpc.call("lockunspent", False, coins)  # the wallet keeps its coins but may not spend them
    try:
        before = rpc.call("getrawmempool")
        with pytest.raises(AnchorError, match="has insufficient funds: expected spendable coins"):
            btc_anchor.anchor(os.urandom(32))
        assert rpc.call("getrawmempool") == before
    finally:
        rpc.call("lockunspent", True, coins)


def test_dialect_is_detected_and_an_explicit_wrong_one_fails_loudly(btc_anchor, bitcoin_node):
    assert btc_anchor.node().dialect is SV
    assert btc_anchor.status()["dialect"] == "sv"
    core = BitcoinAnchor(BitcoinConfig(url=bitcoin_node.url, dialect="core"), bitcoin_node.credentials())
    with pytest.raises(RpcError, match="signrawtransactionwithwallet failed: Method not found"):
        core.anchor(os.urandom(32))
    with pytest.raises(ConfigError, match="leave it unset"):
        BitcoinAnchor(BitcoinConfig(url=bitcoin_node.url, wallet="w"), bitcoin_node.credentials()).anchor(os.urandom(32))


def test_node_stopped_mid_run_leaves_the_receipt_pending_until_it_is_back(spare_bitcoin_node):
    node = spare_bitcoin_node
    anchor = BitcoinAnchor(BitcoinConfig(url=node.url), node.credentials())
    root = os.urandom(32)
    receipt = anchor.anchor(root)
    assert node.stop()
    with pytest.raises(AnchorError, match="cannot reach Bitcoin RPC"):
        anchor.anchor(os.urandom(32))
    with pytest.raises(AnchorError, match="cannot reach Bitcoin RPC"):
        anchor.refresh(receipt)
    assert receipt.state is AnchorState.SUBMITTED  # unchanged: the caller keeps it to retry
    assert anchor.verify(receipt, root).detail.startswith("cannot check:")
    node.start()
    receipt = mined(anchor, node, receipt)
    assert receipt.state is AnchorState.CONFIRMED
    assert anchor.verify(receipt, root).ok


def test_offline_signed_sv_transaction_is_accepted_by_the_node(btc_anchor, bitcoin_node):
    """The offline builder in the SV dialect (SIGHASH_ALL|FORKID over the BIP143 digest), checked
    by the real node: it relays and mines the transaction, and verify finds the root."""
    rpc = bitcoin_node.rpc()
    address = rpc.call("getnewaddress")
    key = key_from_wif(rpc.call("dumpprivkey", address), "regtest")
    funding = rpc.call("sendtoaddress", address, 1)
    bitcoin_node.mine(1)
    output = next(o for o in rpc.call("getrawtransaction", funding, True)["vout"] if o["scriptPubKey"].get("addresses") == [address])
    utxo = Utxo(funding, output["n"], 100_000_000, bytes.fromhex(output["scriptPubKey"]["hex"]))
    root = os.urandom(32)

    core_format = build_anchor_tx(root, utxo, key)  # SIGHASH_ALL without FORKID: SV must refuse it
    with pytest.raises(RpcError, match="Signature must use SIGHASH_FORKID"):
        btc_anchor.broadcast(root, core_format.raw)

    signed = build_anchor_tx(root, utxo, key, dialect=SV, fee_rate=1)
    with pytest.raises(FormatError, match="expected an OP_RETURN output carrying"):
        btc_anchor.broadcast(os.urandom(32), signed.raw)
    receipt = btc_anchor.broadcast(root, signed.raw)
    assert receipt.location["txid"] == signed.txid and receipt.location["vout"] == signed.vout
    receipt = mined(btc_anchor, bitcoin_node, receipt)
    assert btc_anchor.verify(receipt, root).ok
    fee = 100_000_000 - rpc.call("getrawtransaction", signed.txid, True)["vout"][1]["value"] * 100_000_000
    assert fee == signed.fee
