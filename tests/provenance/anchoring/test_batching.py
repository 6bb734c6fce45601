"""Batch anchoring: many runs' roots in one transaction, each receipt proven on-chain."""

from __future__ import annotations

import json
import os


from provenance.anchoring import Anchors
from provenance.anchors.ethereum import backend as ethereum
from provenance.record.receipts import AnchorState
from provenance.config import load_config
from provenance.anchoring.outbox import Outbox
from tests.support.anvil import AnvilNode
from tests.support.cli import cli




def batched_anchors(node: AnvilNode, outbox: Outbox) -> Anchors:
    return Anchors(load_config({"blockchain": {"ethereum": {"network": node.url, "batch": True}}}, environ={}), outbox=outbox)


def test_one_transaction_covers_every_queued_root(anvil, tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    anchors = batched_anchors(anvil, outbox)
    roots = [os.urandom(32) for _ in range(7)]
    for i, root in enumerate(roots):
        outbox.enqueue(f"run-{i % 3}", tmp_path, f"stage-{i}", "ethereum", root, bytes(32), b"{}")
    assert anchors.retry(force=True) == []  # batched roots wait for send_batch
    nonce_before = int(anvil.rpc("eth_getTransactionCount", anvil.rpc("eth_accounts")[0], "latest"), 16)
    members = anchors.send_batch()
    assert int(anvil.rpc("eth_getTransactionCount", anvil.rpc("eth_accounts")[0], "latest"), 16) == nonce_before + 1
    assert [m.state for m in members] == [AnchorState.CONFIRMED] * 7
    assert len({m.receipt.location["tx_hash"] for m in members}) == 1
    backend = ethereum.connect(anvil.url)
    for member, root in zip(members, roots):
        verdict = backend.verify(member.receipt, root)
        assert verdict.ok, verdict.detail
        assert "proof checked on-chain" in verdict.detail
    # a member's receipt does not verify another root, nor with a forged proof
    assert not backend.verify(members[0].receipt, roots[1]).ok
    forged = dict(members[0].receipt.location, batch_proof=list(reversed(members[0].receipt.location["batch_proof"])))
    assert not backend.verify(members[0].receipt.with_state(AnchorState.CONFIRMED, location=forged), roots[0]).ok


def test_batch_created_then_crash_is_sent_once(anvil, tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    roots = [os.urandom(32) for _ in range(3)]
    entries = [outbox.enqueue("run", tmp_path, f"s{i}", "ethereum", r, bytes(32), b"{}") for i, r in enumerate(roots)]
    batch = outbox.create_batch("ethereum", entries)  # ... and the process dies here
    anchors = batched_anchors(anvil, Outbox(tmp_path / "outbox.sqlite"))
    done = anchors.retry(force=True)
    assert sorted(e.id for e in done) == sorted(e.id for e in entries)
    assert {e.state for e in done} == {AnchorState.CONFIRMED}
    assert anchors.retry(force=True) == []  # nothing left to send
    backend = ethereum.connect(anvil.url)
    logs = backend.contract.events.RootAnchored().get_logs(from_block=0, argument_filters={"root": batch.root})
    assert len(logs) == 1


def test_training_runs_batched_then_verified(anvil, tmp_path):
    from provenance.training import TrainOptions, run_training

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"blockchain": {"ethereum": {"network": anvil.url, "batch": True}},
                                  "storage_options": {"store_epoch_checkpoints": False}}))
    runs = [run_training(TrainOptions(epochs=1, base_dir=str(tmp_path / "runs"), run_id=f"b{i}", config=str(config), seed=i))
            for i in range(2)]
    for run in runs:
        assert {r["state"] for r in run.receipts.values()} == {"pending"}
    done = cli("anchor", "--batch", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 4  # pre and post of two runs
    for run in runs:
        verified = cli("verify", str(run.run_dir), "--config", str(config), "--json")
        report = json.loads(verified.stdout)
        assert verified.returncode == 0, [c for c in report["checks"] if not c["ok"]]
        assert all("in batch" in a["detail"] for a in report["anchors"])
