#!/usr/bin/env bash
# The original system's `bash scripts/setup_local_geth.sh` (a Geth dev node on 8545). Here it
# starts the embedded chain instead (anvil, in your data folder) and deploys MLProvenance on it,
# through our own command; the other commands would start it on demand anyway. It prints the
# chain's URL: the config's `"rpc_url": "local"` (as in configs/blockchain_config.json) means this
# chain, or put that URL there. Stop it with `.venv/bin/provenance chain stop`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/.venv/bin/provenance" chain start
