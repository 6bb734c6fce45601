"""A training run anchored on Ethereum, IPFS and Bitcoin through faults, against real nodes:
the IPFS node is down for the whole run, the Bitcoin node is stopped mid-run, the Ethereum node
is killed between submit and receipt. After the faults end and `provenance anchor --retry` runs,
every anchor is confirmed exactly once and verification from a fresh process passes.

Prints the figures (attempted, delivered, duplicated, lost) per network (`pytest -s`)."""

from __future__ import annotations

import json


from provenance.anchors.ethereum import backend as ethereum
from provenance.anchors.ipfs.backend import sha256_of_cid
from provenance.anchors.ipfs.node import IpfsNode
from provenance.anchoring.outbox import Outbox
from provenance.training import TrainOptions, run_training
from tests.provenance.anchoring.test_outbox_bitcoin import transactions_carrying
from tests.support.anvil import free_port
from tests.support.cli import cli



def test_all_networks_survive_faults(tmp_path, anvil, spare_bitcoin_node, monkeypatch):
    ipfs = IpfsNode(tmp_path / "ipfs", free_port())  # configured, but not started: down for the whole run
    monkeypatch.setenv("BITCOIN_RPC_COOKIE", str(spare_bitcoin_node.cookie_file))  # read at each use: survives restarts
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({
        "blockchain": {
            "networks": ["ethereum", "ipfs", "bitcoin"],
            "ethereum": {"network": anvil.url, "receipt_timeout": 2},
            "ipfs": {"api_url": ipfs.url, "timeout": 3},
            "bitcoin": {"rpc_url": spare_bitcoin_node.url, "timeout": 5},
        },
    }))

    # Ethereum stops mining before the run: every anchor is submitted, none is mined ...
    anvil.rpc("evm_setAutomine", False)
    result = run_training(TrainOptions(epochs=2, base_dir=str(tmp_path / "runs"), run_id="faults", config=str(config_path), verify=False))
    stages = list(result.roots)
    assert stages == ["pre", "epoch-1", "epoch-2", "post"]
    states = {k: v["state"] for k, v in result.receipts.items()}
    assert {states[f"{s}/ipfs"] for s in stages} == {"pending"}
    assert {states[f"{s}/ethereum"] for s in stages} == {"submitted"}
    assert {states[f"{s}/bitcoin"] for s in stages} == {"submitted"}  # broadcast, 0 confirmations

    # ... the Ethereum node dies with them in its mempool; the Bitcoin node restarts mid-confirmation
    anvil.kill()
    spare_bitcoin_node.stop()
    down = cli("anchor", "--retry", "--config", str(config_path))
    assert down.returncode == 3 and "Traceback" not in down.stderr  # nothing reachable: kept, not lost

    # the faults end
    anvil.start()
    spare_bitcoin_node.start()
    spare_bitcoin_node.mine(1)
    ipfs.start()
    try:
        done = cli("anchor", "--retry", "--config", str(config_path), "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        verified = cli("verify", str(result.run_dir), "--config", str(config_path), "--json")
        report = json.loads(verified.stdout)
        assert verified.returncode == 0, [c for c in report["checks"] if not c["ok"]]

        record = json.loads((result.run_dir / "record.json").read_text())
        receipts = {(r["stage"], r["network"]): r for r in record["receipts"]}
        backend = ethereum.connect(anvil.url)
        figures = {}
        for network in ("ethereum", "ipfs", "bitcoin"):
            delivered = duplicated = 0
            for stage, root in result.roots.items():
                r = receipts[(stage, network)]
                delivered += r["state"] == "confirmed"
                root_bytes = bytes.fromhex(root[2:])
                if network == "ethereum":
                    copies = len(backend.contract.events.RootAnchored().get_logs(from_block=0, argument_filters={"root": root_bytes}))
                elif network == "bitcoin":
                    copies = transactions_carrying(spare_bitcoin_node, root_bytes)
                else:
                    copies = 1 if sha256_of_cid(r["location"]["cid"]) else 0  # content-addressed: one CID per record
                duplicated += copies - 1
            figures[network] = {"attempted": len(stages), "delivered": delivered, "duplicated": duplicated, "lost": len(stages) - delivered}
        print("\nfault scenario figures:", json.dumps(figures))
        for network, f in figures.items():
            assert f == {"attempted": 4, "delivered": 4, "duplicated": 0, "lost": 0}, (network, f)
        assert [e for e in Outbox().entries(run_id="faults") if e.state.value != "confirmed"] == []
    finally:
        ipfs.stop()
