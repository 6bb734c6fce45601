"""Who anchors a run: the signer the configuration gives, the identity a run's pre tree committed
to, and the refusal to anchor a run under another account."""

from __future__ import annotations

from ..errors import AnchorError, ConfigError, ProvenanceError
from ..record import Record
from ..record.receipts import AnchorState
from .outbox import Entry
from .schema import NOT_A_RUN, ROOTS_RUN_ID


class IdentityChecks:
    """The identity half of `Anchors` (`anchoring/__init__.py`)."""

    def signer_identity(self) -> str | None:
        """The address Ethereum anchors are sent from with this configuration (None when it cannot
        be told here: the node down and no key in the environment)."""
        try:
            return getattr(self.backend("ethereum"), "signer_address", None)
        except AnchorError:
            from ..anchors.ethereum.keys import signer_from_environment

            signer = signer_from_environment()
            return signer.address if signer is not None else None

    def committed_identity(self, entry: Entry) -> str | None:
        """The Ethereum identity the pre tree of `entry`'s run commits to, from the snapshot the
        outbox keeps (the run folder may be gone); None if it commits to none, `NOT_A_RUN` if the
        payload is no run record."""
        key = (entry.run_id, entry.run_dir)
        if key not in self._identities:
            try:
                record = Record.from_snapshot(self.outbox.payload(entry), source=f"outbox entry {entry.id}")
            except ProvenanceError:
                self._identities[key] = NOT_A_RUN  # a bare root's payload (any bytes): no run, no identity to hold it to
                return NOT_A_RUN
            pre = record.stages[0] if record.stages and record.stages[0].name == "pre" else None
            names = pre.identities() if pre is not None else []
            self._identities[key] = names[0] if len(names) == 1 else None
        return self._identities[key]

    def _signed_by_identity(self, entry: Entry) -> bool:
        """Whether this configuration's signer may send `entry`: an unsent Ethereum anchor of a run
        goes out only from the identity that run committed to (from another account it is
        anchored, and can never verify). Otherwise it stays pending, noted with the identity it
        waits for (`held_back`)."""
        if entry.network != "ethereum" or entry.run_id == ROOTS_RUN_ID or entry.receipt is not None \
                or entry.state is not AnchorState.PENDING:
            return True
        identity = self.committed_identity(entry)
        if identity == NOT_A_RUN:
            return True
        if identity is None:
            why = "its run commits to no Ethereum identity: it could never verify, so it is not sent"
        else:
            signer = self.signer_identity()
            if signer is None or identity.lower() == signer.lower():
                return True  # no signer to tell (the node down, no key here): delivery fails as it would, and says why
            why = f"waits for identity {identity} (this signer is {signer})"
        self.held_back.append((self.outbox.note(entry, why), why))
        return False

    def check_signer(self, record: Record) -> None:
        """Refuse (ConfigError, exit 2) to anchor a run on Ethereum that commits to no identity, or
        to another identity than this configuration's signer: such anchors could never verify."""
        if not self.enabled or "ethereum" not in self.networks:
            return
        pre = record.stages[0] if record.stages and record.stages[0].name == "pre" else None
        names = pre.identities() if pre is not None else []
        if len(names) != 1:
            raise ConfigError(f"run {record.run_id}: expected its pre tree to commit to one Ethereum identity, found "
                              f"{len(names) or 'none'}; its anchors could never verify, so it is not anchored "
                              "(train with --identity ADDRESS to anchor later)")
        signer = self.signer_identity()
        if signer is not None and signer.lower() != names[0].lower():
            raise ConfigError(f"run {record.run_id}: expected the signer to be the run's identity {names[0]}, found {signer}; "
                              "anchor it with that account (--account, ETH_PRIVATE_KEY or PROVENANCE_ETH_ACCOUNT)")
