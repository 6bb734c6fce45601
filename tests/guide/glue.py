"""What the guide's examples leave to the reader: a small seeded dataset and model, the same in
every process (the examples' run and the fresh process that verifies it)."""

import numpy as np
import torch

rng = np.random.default_rng(0)
train_data = (rng.random((64, 8, 8), dtype=np.float32), rng.integers(0, 10, 64))
test_data = (rng.random((16, 8, 8), dtype=np.float32), rng.integers(0, 10, 16))
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
