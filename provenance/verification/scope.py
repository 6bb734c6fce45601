"""What a run anchored without Ethereum proves, and what it cannot (docs/explanation/threat-model.md).

The original system's default is IPFS only; Bitcoin only is the other run without an identity.
Such a run commits to no Ethereum account (no `identity.ethereum` leaf), so nothing in it says who
anchored it: IPFS shows that a record with these bytes exists (at no particular time), and Bitcoin
that a root existed no later than a mined block. Verification still checks everything it can (the
artifacts, the roots, the chain of trees, each CID's bytes, each OP_RETURN payload and its
confirmations); the verdict then names what it did not prove, so a PASSED never reads as an
identity. A verifier that names trusted submitters still fails such a run (`_check_trusted`).
"""

from __future__ import annotations

from dataclasses import dataclass

# what a verified anchor of each network shows, beyond the run folder's own checks
PROVES = {
    "ipfs": "each anchored tree's record snapshot is on IPFS: its bytes were fetched and hash to the CID, "
            "which is the snapshot's sha2-256",
    "bitcoin": "each anchored root is the 32-byte OP_RETURN payload of a mined Bitcoin transaction with the "
               "required confirmations: the root existed no later than that block",
}
WHO = "who anchored the run: no IPFS or Bitcoin anchor names an account (only an Ethereum anchor's submitter does)"
WHEN = "when the run was anchored: IPFS stores content and dates nothing"


@dataclass(frozen=True)
class Scope:
    """What a verification proved and what it could not, one line each."""

    networks: tuple[str, ...]
    proven: tuple[str, ...]
    not_proven: tuple[str, ...]

    def describe(self) -> str:
        label = "/".join(self.networks) or "no network"
        return f"{label}-only run (no Ethereum identity): NOT proven: " + "; ".join(self.not_proven)


def unattributed(networks: set[str]) -> Scope:
    """The scope of a run whose receipts are all on `networks` (a subset of ipfs, bitcoin)."""
    ordered = tuple(n for n in ("ipfs", "bitcoin") if n in networks)
    proven = ("the artifacts re-hash to the recorded leaves", "each root is recomputed from its leaves",
              "each tree commits to the previous tree's root", *(PROVES[n] for n in ordered))
    not_proven = (WHO,) + (() if "bitcoin" in networks else (WHEN,))
    return Scope(ordered, proven, not_proven)
