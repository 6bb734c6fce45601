#!/usr/bin/env bash
# Wheels that bench/gpu_checkpoint.py needs on a lent GPU machine beside what its image holds
# (python3 3.12 with a CUDA torch, numpy, tqdm, regex, toolz, typing-extensions): blake3 and the
# Ethereum encoding packages provenance.merkle imports. Saved to bench/results/wheels/ (ignored by
# .gitignore), to be carried to the machine; see the docstring of bench/gpu_checkpoint.py.
set -euo pipefail
cd "$(dirname "$0")/.."
"${PYTHON:-.venv/bin/python}" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d bench/results/wheels \
  blake3==1.0.11 eth-abi==5.2.0 eth-hash==0.8.0 eth-utils==5.3.1 eth-typing==5.2.1 parsimonious==0.10.0 \
  cytoolz==1.2.0 pycryptodome==3.24.1 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
  typing-inspection==0.4.5
