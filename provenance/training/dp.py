"""DP-SGD for the training job with Opacus: Poisson sampling, per-sample clipping, seeded noise.

The noise multiplier is chosen for the exact number of steps the job runs (epochs x batches per
epoch), so the epsilon spent at the end is at most the target by the accountant's own numbers.
(`make_private_with_epsilon` searches for `int(epochs / sample_rate)` steps, which can be one
short of what the loader yields; this module runs the same search with the exact count.)

Determinism: Poisson sampling draws from a generator seeded from the run's seed and the noise
from a second, independently seeded generator, so a run is reproducible bit for bit on the same
machine and thread count. That needs Opacus's `secure_mode` off: its noise and sampling then come
from PyTorch's PRNG, not a cryptographically secure one, which is fine for research and audits
of this tool but is what Opacus asks to turn on for a final production model (`secure_mode`
needs `torchcsprng` and can never be reproduced; this job does not offer it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from ..digests import privacy
from ..digests.privacy import quiet
from ..errors import ConfigError

@dataclass(frozen=True)
class DPOptions:
    target_epsilon: float
    delta: float
    max_grad_norm: float
    accountant: str = "prv"

    def check(self) -> None:
        if not self.target_epsilon > 0:
            raise ConfigError(f"target_epsilon: expected a positive number, found {self.target_epsilon!r}")
        if not 0 < self.delta < 1:
            raise ConfigError(f"delta: expected a number in (0, 1), found {self.delta!r}")
        if not self.max_grad_norm > 0:
            raise ConfigError(f"max_grad_norm: expected a positive number, found {self.max_grad_norm!r}")
        if self.accountant not in privacy.ACCOUNTANTS:
            raise ConfigError(f"accountant: expected one of {', '.join(privacy.ACCOUNTANTS)}, found {self.accountant!r}")

    def config(self) -> dict[str, Any]:
        """What the run's config commits to (and the verifier checks the history against)."""
        return {
            "target_epsilon": self.target_epsilon, "delta": self.delta, "max_grad_norm": self.max_grad_norm,
            "accountant": self.accountant, "sampling": "poisson", "clipping": "flat", "secure_mode": False,
        }


class PrivateTraining:
    """A model and optimizer made private by Opacus, with the Poisson-sampled batches to train on.

    The wrapped module (`GradSampleModule`) shares its parameters with the model it wraps, so
    the tracker keeps hashing the plain model and the tensor names stay those of a run without
    DP (the wrapper's state dict would prefix them with `_module.`).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, features: torch.Tensor, labels: torch.Tensor,
                 *, batch_size: int, epochs: int, seed: int, options: DPOptions) -> None:
        from opacus import PrivacyEngine
        from torch.utils.data import DataLoader, TensorDataset

        options.check()
        self.options = options
        sampling_seed, noise_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
        loader = DataLoader(TensorDataset(features, labels), batch_size=batch_size,
                            generator=torch.Generator().manual_seed(sampling_seed))
        self.sample_rate = 1 / len(loader)
        self.noise_multiplier = privacy.noise_multiplier_for(
            options.target_epsilon, options.delta, self.sample_rate, epochs * len(loader), options.accountant)
        with quiet():
            self.engine = PrivacyEngine(accountant=options.accountant)
            self.module, self.optimizer, self.loader = self.engine.make_private(
                module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=self.noise_multiplier,
                max_grad_norm=options.max_grad_norm, noise_generator=torch.Generator().manual_seed(noise_seed),
            )

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        with quiet():
            yield from self.loader

    def spent(self) -> privacy.Accounting:
        """The budget spent so far, computed the way a verifier recomputes it."""
        history = self.engine.accountant.history
        steps = sum(entry[2] for entry in history)
        if any(entry[:2] != (self.noise_multiplier, self.sample_rate) for entry in history):
            raise ConfigError(f"privacy accounting: expected one mechanism (noise {self.noise_multiplier}, "
                              f"sample rate {self.sample_rate}), found {history}")
        epsilon = privacy.epsilon_for(self.options.accountant, self.noise_multiplier, self.sample_rate, steps, self.options.delta)
        return privacy.Accounting(epsilon, self.options.delta, self.options.accountant, self.noise_multiplier, self.sample_rate, steps)
