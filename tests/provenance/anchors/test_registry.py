"""A new anchor network is one package that registers one spec (`anchors/registry.py`): the toy
network below lives in this test file only, and anchor -> outbox delivery -> verify, its
destination, explorer link, listing name and batching flag all go through the registry, with no
edit anywhere else. The toy is an in-process ledger (a dict), named so: it stands in for a real
network only to show what the registry connects."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import pytest

from provenance.anchoring.batch import proves_members
from provenance.anchoring.delivery import deliver
from provenance.anchoring.outbox import Outbox
from provenance.anchors.base import ZERO_ROOT, AnchorBackend
from provenance.anchors.open import open_backend
from provenance.anchors.registry import NetworkSpec, register, spec, specs, unregister
from provenance.anchors.settings import Section
from provenance.cli.listing import short_network
from provenance.errors import AnchorError, ConfigError
from provenance.record.receipts import AnchorState, Receipt, Verdict
from provenance.verification.links import explorer_link

TOY_LEDGERS: dict[str, dict[bytes, bytes]] = {}  # ledger name -> root -> sha256 of the record


class ToySettings(Section):
    ledger: str = "toy-1"
    retry_attempts: int = 1

    ENV: ClassVar = {"ledger": ("TOY_LEDGER",)}


class InProcessToyLedger(AnchorBackend):
    """Anchors roots in a dict of this process: enough to be a network for the registry."""

    name = "toy"

    def __init__(self, ledger: str) -> None:
        self.ledger = ledger
        self.roots = TOY_LEDGERS.setdefault(ledger, {})

    @property
    def destination(self) -> str:
        return f"toy:{self.ledger}"

    def anchor(self, root: bytes, record: bytes = b"", prev_root: bytes = ZERO_ROOT) -> Receipt:
        if root == ZERO_ROOT:
            raise AnchorError("toy: expected a non-zero root, found zero")
        self.roots.setdefault(root, hashlib.sha256(record).digest())
        location = {"ledger": self.ledger, "seq": list(self.roots).index(root)}
        return Receipt(self.name, root, AnchorState.CONFIRMED, location, confirmations=1)

    def verify(self, receipt: Receipt, root: bytes) -> Verdict:
        if receipt.root != root or TOY_LEDGERS.get(str(receipt.location.get("ledger")), {}).get(root) is None:
            return Verdict(self.name, False, f"0x{root.hex()} is not in ledger {receipt.location.get('ledger')!r}")
        return Verdict(self.name, True, f"in ledger {self.ledger}", 1)

    def status(self) -> dict[str, Any]:
        return {"network": self.name, "ledger": self.ledger, "roots": len(self.roots)}


def _open(section: ToySettings, read_only: bool) -> AnchorBackend:
    return InProcessToyLedger(section.ledger)


@pytest.fixture
def toy() -> Any:
    registered = register(NetworkSpec(
        name="toy", settings=ToySettings, open=_open,
        destination=lambda location: f"toy:{location['ledger']}" if location.get("ledger") else "",
        explorer_link=lambda location: f"https://toy.example/seq/{int(location['seq'])}" if "seq" in location else None,
        receipt_fields={"seq": "seq"}, short="ty", endpoint=lambda section: section.ledger,
    ))
    yield registered
    unregister("toy")
    TOY_LEDGERS.clear()


def test_a_registered_network_anchors_and_verifies_through_the_outbox(toy, tmp_path):
    assert list(specs())[-1] == "toy" and spec("toy") is toy
    backend = open_backend("toy", {"blockchain": {"toy": {"ledger": "ledger-a"}}})  # validated by its model
    assert isinstance(backend, InProcessToyLedger) and backend.destination == "toy:ledger-a"
    outbox = Outbox(tmp_path / "outbox.sqlite")
    root = hashlib.sha256(b"a run's root").digest()
    entry = outbox.enqueue("run-1", tmp_path, "post", "toy", root, ZERO_ROOT, b'{"record": 1}', target="toy:ledger-a")
    done = deliver(outbox, entry, backend)
    assert done.state is AnchorState.CONFIRMED and done.destination == "toy:ledger-a"
    receipt = done.current_receipt()
    assert backend.verify(receipt, root).ok
    assert not backend.verify(receipt, hashlib.sha256(b"another root").digest()).ok  # checked, not assumed
    assert explorer_link("toy", receipt.location) == "https://toy.example/seq/0"
    assert short_network("toy") == "ty" and not proves_members("toy")


def test_a_backend_bound_elsewhere_is_not_used_and_a_bad_setting_is_one_line(toy, tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    root = hashlib.sha256(b"root").digest()
    entry = outbox.enqueue("run-1", tmp_path, "pre", "toy", root, ZERO_ROOT, b"{}")
    first = deliver(outbox, entry, open_backend("toy", ToySettings(ledger="ledger-a")))
    assert first.destination == "toy:ledger-a"
    with pytest.raises(ConfigError, match="ledger"):
        open_backend("toy", {"toy": {"ledger": 7}})
    with pytest.raises(ConfigError, match="expected one of ethereum, ipfs, bitcoin, toy"):
        open_backend("nope", {})


def test_unregistered_networks_are_unknown(tmp_path):
    assert "toy" not in specs() and explorer_link("toy", {"seq": 1}) is None and short_network("toy") == "toy"
