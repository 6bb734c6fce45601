"""Differential-privacy accounting as provenance: the budget spent after each epoch, as leaves.

A DP-SGD run (Opacus) spends privacy budget with every noisy step. After each epoch the tracker
puts the accounting so far into that epoch's tree, one `privacy` leaf per value
(`privacy:epsilon`, `privacy:delta`, `privacy:accountant`, `privacy:noise_multiplier`,
`privacy:sample_rate`, `privacy:steps`), and into the stage's metrics under `"privacy"`. Because
every tree commits to the previous root, the final root commits to the whole epsilon history.

A verifier (`check_history`) re-derives the leaves from the recorded values, checks that epsilon
never decreases and stays within the target the run's config committed to, and recomputes each
epsilon from the mechanism's parameters (noise multiplier, sample rate, steps) with the named
Opacus accountant, so a record that claims less privacy loss than its noise gives is caught.

Tolerance (`EPSILON_TOLERANCE`, 1e-6): the training job picks the noise multiplier with Opacus's
`get_noise_multiplier` for exactly the number of steps it then runs, and the accountant's
epsilon for those parameters is at most the target by construction; the tolerance only absorbs
float rounding when a verifier recomputes the same numbers (with the Opacus version the run
recorded in its environment; another version may round differently and is reported as such).
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..merkle.kinds import PRIVACY as KIND
from ..errors import FormatError
from ..merkle import Leaf

METRICS_KEY = "privacy"  # where a stage's metrics hold its accounting
ACCOUNTANTS = ("prv", "rdp", "gdp")  # Opacus's accountants; prv is its default
EPSILON_TOLERANCE = 1e-6
# Known, harmless Opacus warnings: the model's input needs no gradient; the secure RNG is off on
# purpose (training/dp.py says why); RDP's largest order is the optimum for very small epsilons.
_QUIET = ("Full backward hook is firing", "Secure RNG turned off", "Optimal order is the largest alpha")


@dataclass(frozen=True)
class Accounting:
    """The privacy budget spent so far: (epsilon, delta) under `accountant`, for `steps` steps of
    the Poisson-subsampled Gaussian mechanism with this noise multiplier and sample rate."""

    epsilon: float
    delta: float
    accountant: str
    noise_multiplier: float
    sample_rate: float
    steps: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str = "privacy accounting") -> Accounting:
        if not isinstance(data, Mapping):
            raise FormatError(f"{where}: expected an object with epsilon, delta, accountant, ..., found {type(data).__name__}")
        missing = [k for k in cls.__dataclass_fields__ if k not in data]
        if missing:
            raise FormatError(f"{where}: expected the keys epsilon, delta, accountant, noise_multiplier, sample_rate, steps; missing {', '.join(missing)}")
        values = {}
        for key, kind in (("epsilon", float), ("delta", float), ("noise_multiplier", float), ("sample_rate", float)):
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise FormatError(f"{where}: {key}: expected a finite number, found {value!r}")
            values[key] = kind(value)
        if isinstance(data["steps"], bool) or not isinstance(data["steps"], int) or data["steps"] < 0:
            raise FormatError(f"{where}: steps: expected a non-negative integer, found {data['steps']!r}")
        if data["accountant"] not in ACCOUNTANTS:
            raise FormatError(f"{where}: accountant: expected one of {', '.join(ACCOUNTANTS)}, found {data['accountant']!r}")
        return cls(accountant=data["accountant"], steps=data["steps"], **values)


def leaves(accounting: Mapping[str, Any], encode: Callable[[Any], bytes] | None = None) -> list[Leaf]:
    """One `privacy` leaf per value of the accounting (blake3 of its canonical JSON, `encode`'s)."""
    from .context import mapping_leaves

    return mapping_leaves(KIND, accounting) if encode is None else mapping_leaves(KIND, accounting, encode)


def epsilon_for(accountant: str, noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """Epsilon spent by `steps` steps of the mechanism, as Opacus's `accountant` computes it."""
    if steps == 0:
        return 0.0
    from opacus.accountants.utils import create_accountant

    acc = create_accountant(mechanism=accountant)
    acc.history = [(noise_multiplier, sample_rate, steps)]
    with quiet():
        return float(acc.get_epsilon(delta=delta))


def noise_multiplier_for(target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str) -> float:
    """The smallest noise multiplier (to Opacus's search precision) whose epsilon after exactly
    `steps` steps is at most `target_epsilon`."""
    from opacus.accountants.utils import get_noise_multiplier

    try:
        with quiet():
            return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta, sample_rate=sample_rate,
                                              steps=steps, accountant=accountant))
    except ValueError as e:  # "The privacy budget is too low."
        from ..errors import ConfigError

        raise ConfigError(f"target epsilon {target_epsilon} with delta {delta} over {steps} steps: {e}") from None


@contextmanager
def quiet() -> Iterator[None]:
    """Silence Opacus's known warnings (and only those)."""
    with warnings.catch_warnings():
        for message in _QUIET:
            warnings.filterwarnings("ignore", message=message)
        yield


Check = tuple[str, bool, str]  # (name, ok, detail)


def check_history(history: Sequence[tuple[str, Accounting]], target: Mapping[str, Any]) -> list[Check]:
    """Checks of an epsilon history `[(stage, accounting), ...]` against the committed target
    (`{"target_epsilon", "delta", "accountant"}` from the run's config)."""
    checks: list[Check] = []
    if not history:
        return [("privacy history", False, "the run's config asks for DP, but no tree holds privacy leaves")]
    target_epsilon, delta, accountant = target.get("target_epsilon"), target.get("delta"), target.get("accountant")
    eps = [a.epsilon for _, a in history]
    steps = [a.steps for _, a in history]
    decreasing = [(history[i - 1][0], history[i][0]) for i in range(1, len(history)) if eps[i] < eps[i - 1] or steps[i] < steps[i - 1]]
    checks.append((
        "privacy history non-decreasing", not decreasing,
        "epsilon " + " -> ".join(f"{e:.4f}" for e in eps) + f" over {' -> '.join(map(str, steps))} steps" if not decreasing
        else "epsilon or steps go down from " + ", ".join(f"{a} to {b}" for a, b in decreasing),
    ))
    over = [(s, a.epsilon) for s, a in history if not isinstance(target_epsilon, (int, float)) or a.epsilon > target_epsilon + EPSILON_TOLERANCE]
    checks.append((
        "privacy within target", not over,
        f"final epsilon {eps[-1]:.6f} <= target {target_epsilon} (+{EPSILON_TOLERANCE:g})" if not over
        else f"target epsilon {target_epsilon!r} exceeded: " + ", ".join(f"{s} epsilon {e:.6f}" for s, e in over),
    ))
    wrong = [s for s, a in history if a.delta != delta or a.accountant != accountant]
    checks.append((
        "privacy accounting matches config", not wrong,
        f"delta {delta}, accountant {accountant} in every tree" if not wrong
        else f"expected delta {delta} and accountant {accountant} as in the config, found others in " + ", ".join(wrong),
    ))
    mismatched = []
    for stage, a in history:
        try:
            again = epsilon_for(a.accountant, a.noise_multiplier, a.sample_rate, a.steps, a.delta)
        except ImportError:
            return checks + [("privacy recomputed", False, "cannot recompute epsilon: opacus is not installed")]
        if abs(again - a.epsilon) > EPSILON_TOLERANCE * max(1.0, abs(again)):
            mismatched.append(f"{stage} records {a.epsilon:.6f}, its parameters give {again:.6f}")
    checks.append((
        "privacy recomputed", not mismatched,
        f"{len(history)} epsilons recomputed from noise multiplier, sample rate and steps ({_opacus_version()})"
        if not mismatched else "; ".join(mismatched) + f" ({_opacus_version()})",
    ))
    return checks


def _opacus_version() -> str:
    try:
        from importlib.metadata import version

        return f"opacus {version('opacus')}"
    except Exception:  # pragma: no cover - only reached when opacus is missing
        return "opacus not installed"
