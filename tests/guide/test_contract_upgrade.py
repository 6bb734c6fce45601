"""This release changed MLProvenance's storage (the first anchor of a root keyed by the root, so
the guide's reads see it): an embedded chain that holds an earlier deployment gets this release
deployed on the next anchor, instead of leaving every anchor pending as "not this version"."""

from __future__ import annotations

import os

from provenance.anchors.ethereum import deployments
from provenance.anchors.ethereum import node as localchain
from provenance.anchors.ethereum.backend import connect
from provenance.anchors.ethereum.contract import runtime
from provenance.record.receipts import AnchorState

from .test_guide_registry import deploy_guide_contract


def test_the_embedded_chain_gets_this_release_when_it_holds_other_code(tmp_path, monkeypatch):
    from tests.support.anvil import free_port

    monkeypatch.setenv("PROVENANCE_HOME", str(tmp_path))
    monkeypatch.setenv(localchain.PORT_ENV, str(free_port()))
    monkeypatch.delenv("ETH_PRIVATE_KEY", raising=False)
    try:
        first = connect("local")
        # the data folder records a deployment whose code is not this release's
        other = deploy_guide_contract(localchain.url())
        deployments.record(deployments.Deployment(first.chain_id, other, "0x" + "00" * 32, 1, "local"))
        upgraded = connect("local")
        assert upgraded.address not in (other, first.address)
        assert upgraded.w3.eth.get_code(upgraded.address) == runtime()
        assert deployments.lookup(first.chain_id).address == upgraded.address
        root = os.urandom(32)
        assert upgraded.anchor(root).state is AnchorState.CONFIRMED
    finally:
        localchain.stop()
