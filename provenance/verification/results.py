"""What verifying a run gives: each check, each leaf that changed, and the report that holds them
(its JSON, its verdict)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from . import verdicts


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    incomplete: bool = False  # failing it means something is missing (INCOMPLETE), not that something is wrong
    unchecked: bool = False  # failing it means it could not be checked (a network down, data not given): CANNOT CHECK


@dataclass(frozen=True)
class LeafChange:
    """One leaf whose artifact no longer hashes to the recorded value."""

    stage: str
    kind: str
    name: str
    change: str  # "changed", "missing" (recorded, not found now) or "unexpected" (found, not recorded)
    recorded: str | None
    found: str | None

    def describe(self) -> str:
        return f"{self.kind}:{self.name} in tree {self.stage!r} {self.change}"


@dataclass
class VerificationReport:
    run_id: str
    checks: list[Check] = field(default_factory=list)
    changes: list[LeafChange] = field(default_factory=list)
    anchors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chain_integrity: bool = False
    privacy: list[dict[str, Any]] = field(default_factory=list)  # the epsilon history of a DP run, by tree
    identity: str | None = None  # the Ethereum account the pre tree commits to
    submitters: dict[str, str] = field(default_factory=dict)  # stage -> who anchored it on Ethereum (from the chain)
    trusted_submitters: list[str] = field(default_factory=list)
    proven: list[str] = field(default_factory=list)  # for a run without an identity: what its checks proved
    not_proven: list[str] = field(default_factory=list)  # ... and what they cannot (who anchored it; when, for IPFS)
    data_sources: dict[str, str] = field(default_factory=dict)  # dataset -> the copy that was re-hashed

    @property
    def verdict(self) -> str:
        """PASSED; FAILED (something does not hold); INCOMPLETE (nothing wrong, something missing);
        CANNOT CHECK (nothing wrong or missing, but some checks could not be made: a network down,
        data not given). One scale everywhere; `verdicts.exit_code` gives each its exit code."""
        failed = [c for c in self.checks if not c.ok]
        if not self.checks or self.changes or any(not (c.incomplete or c.unchecked) for c in failed):
            return verdicts.FAILED
        if any(c.incomplete for c in failed):
            return verdicts.INCOMPLETE
        return verdicts.CANNOT_CHECK if failed else verdicts.PASSED

    @property
    def ok(self) -> bool:
        return self.verdict == verdicts.PASSED

    @property
    def exit_code(self) -> int:
        return verdicts.exit_code(self.verdict)

    @property
    def missing(self) -> list[str]:
        """What keeps the run from being complete, one line each."""
        return [c.detail for c in self.checks if c.incomplete and not c.ok]

    @property
    def unchecked(self) -> list[str]:
        """What could not be checked and what to supply, one line each."""
        return [c.detail for c in self.checks if c.unchecked and not c.ok]

    @property
    def trust(self) -> str:
        """How the run's identity was judged: against the verifier's trust list, or not at all."""
        return verdicts.trust_note(self.identity, self.trusted_submitters)

    def add(self, name: str, ok: bool, detail: str, incomplete: bool = False, unchecked: bool = False) -> bool:
        self.checks.append(Check(name, ok, detail, incomplete, unchecked))
        return ok

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "provenance-verification/v1",
            "run_id": self.run_id,
            "ok": self.ok,
            "verdict": self.verdict,
            # The original system's users read `chain_integrity` as the verdict ("✅ Provenance chain
            # integrity verified!"), so it holds only when the whole run verified; `tree_links` is
            # the narrower check that each tree commits to the previous root.
            "chain_integrity": self.chain_integrity and self.ok,
            "tree_links": self.chain_integrity,
            "identity": self.identity,
            "submitters": self.submitters,
            "trusted_submitters": self.trusted_submitters,
            "proven": self.proven,
            "not_proven": self.not_proven,
            "missing": self.missing,
            "unchecked": self.unchecked,
            "trust": self.trust,
            "well_known_identity": verdicts.well_known(self.identity),
            "data_sources": self.data_sources,
            "checks": [asdict(c) for c in self.checks],
            "changes": [asdict(c) | {"description": c.describe()} for c in self.changes],
            "anchors": self.anchors,
            "warnings": self.warnings,
            "privacy": self.privacy,
        }
