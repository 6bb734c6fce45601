"""The outbox with a real regtest node: the node restarted (cleanly, and killed) between
broadcast and confirmation, and the process SIGKILLed between signing and broadcasting. The
signed transaction is stored before it is sent, so every anchor is mined exactly once."""

from __future__ import annotations

import os
import signal

from provenance.record.receipts import AnchorState
from provenance.anchors.bitcoin.backend import BitcoinAnchor, BitcoinConfig
from provenance.anchoring.delivery import deliver
from provenance.anchoring.outbox import RAW_TX, Outbox


def backend_for(node) -> BitcoinAnchor:
    return BitcoinAnchor(BitcoinConfig(url=node.url, chain="regtest"), node.credentials())


def transactions_carrying(node, root: bytes) -> int:
    """How many mined transactions on the node's chain carry `root` in an OP_RETURN output."""
    rpc = node.rpc()
    count = 0
    for height in range(rpc.call("getblockcount") + 1):
        block = rpc.call("getblock", rpc.call("getblockhash", height), 2)
        for tx in block["tx"]:
            count += any(root.hex() in o["scriptPubKey"]["hex"] for o in tx["vout"])
    return count


def kill(node) -> None:
    """SIGKILL the node (it is our child: reap it, or it lingers as a zombie)."""
    pid = int(node.pid_file.read_text())
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    node.pid_file.unlink(missing_ok=True)


def test_node_restarted_mid_confirmation(spare_bitcoin_node, tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    root = os.urandom(32)
    entry = deliver(outbox, outbox.enqueue("r", tmp_path, "pre", "bitcoin", root, bytes(32), b""), backend_for(spare_bitcoin_node))
    assert entry.state is AnchorState.SUBMITTED and entry.receipt.confirmations == 0
    spare_bitcoin_node.stop()  # clean restart: the mempool is saved and reloaded
    spare_bitcoin_node.start()
    spare_bitcoin_node.mine(1)
    done = deliver(outbox, entry, backend_for(spare_bitcoin_node))
    assert done.state is AnchorState.CONFIRMED
    assert done.receipt.location["txid"] == entry.receipt.location["txid"]
    assert transactions_carrying(spare_bitcoin_node, root) == 1
    assert RAW_TX not in done.current_receipt().location  # the signed tx stays in the outbox only


def test_node_killed_before_mining_rebroadcasts_the_same_transaction(spare_bitcoin_node, tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    root = os.urandom(32)
    entry = deliver(outbox, outbox.enqueue("r", tmp_path, "pre", "bitcoin", root, bytes(32), b""), backend_for(spare_bitcoin_node))
    assert entry.state is AnchorState.SUBMITTED
    kill(spare_bitcoin_node)  # SIGKILL: the mempool is lost with the transaction in it
    down = deliver(outbox, entry, backend_for(spare_bitcoin_node))
    assert down.state is AnchorState.SUBMITTED and "cannot reach" in down.last_error  # node down: kept, not lost
    spare_bitcoin_node.start()
    assert backend_for(spare_bitcoin_node).refresh(entry.receipt).state is AnchorState.PENDING  # the node forgot it
    again = deliver(outbox, outbox.get(entry.id), backend_for(spare_bitcoin_node))
    # The same signed transaction if the restarted node still has its inputs; after this SV node's
    # crash it has lost them ("Missing inputs"), so that transaction can never be mined and a new
    # one is signed. Either way exactly one transaction carrying the root gets mined.
    assert again.state is AnchorState.SUBMITTED
    spare_bitcoin_node.mine(1)
    done = deliver(outbox, again, backend_for(spare_bitcoin_node))
    assert done.state is AnchorState.CONFIRMED
    assert transactions_carrying(spare_bitcoin_node, root) == 1


def test_process_killed_between_signing_and_broadcast(spare_bitcoin_node, tmp_path):
    """The state a SIGKILL leaves after `prepare` was stored and before `broadcast` ran."""
    outbox = Outbox(tmp_path / "outbox.sqlite")
    root = os.urandom(32)
    entry = outbox.enqueue("r", tmp_path, "pre", "bitcoin", root, bytes(32), b"")
    prepared = backend_for(spare_bitcoin_node).prepare(root)
    outbox.record(entry, prepared)  # ... the process dies here
    reopened = Outbox(tmp_path / "outbox.sqlite").entries()[0]
    assert reopened.state is AnchorState.PENDING and reopened.receipt.location["txid"] == prepared.location["txid"]
    done = deliver(outbox, reopened, backend_for(spare_bitcoin_node))
    assert done.receipt.location["txid"] == prepared.location["txid"]
    spare_bitcoin_node.mine(1)
    assert deliver(outbox, done, backend_for(spare_bitcoin_node)).state is AnchorState.CONFIRMED
    assert transactions_carrying(spare_bitcoin_node, root) == 1
