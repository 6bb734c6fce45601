#!/usr/bin/env bash
# Idempotent, offline-safe set-up of everything the project needs, inside the repository:
#   .venv/                 Python packages pinned in requirements.lock, plus this package (editable,
#                          with its C extension built in place)
#   node_modules/          solc (wasm), OpenZeppelin contracts, anvil, @openzeppelin/merkle-tree
#   .provenance/solcx/     a `solc-vX.Y.Z` stand-in that py-solc-x / ape-solidity accept
#   .provenance/ape/       Ape's data folder for the test suite and CI only (`make test` exports
#                          APE_DATA_FOLDER); everything else uses yours (~/.ape), accounts included
# Each step is skipped when the lock file it installs from has not changed since it last ran.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data="$root/.provenance"
mkdir -p "$data/solcx" "$data/ape"

stamp_ok() { [ -f "$2" ] && [ "$(cat "$2")" = "$(sha256sum $1 | sha256sum | cut -c1-64)" ]; }
stamp_write() { sha256sum $1 | sha256sum | cut -c1-64 >"$2"; }

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null \
  || { echo "setup: expected Python 3.11 (set PYTHON=...), found $("$python" --version 2>&1)" >&2; exit 1; }

if ! stamp_ok "requirements.lock pyproject.toml" .venv/.installed; then
  echo "setup: installing Python packages into .venv (about a minute)"
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade "pip==25.3"
  .venv/bin/python -m pip install --quiet -r requirements.lock
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  stamp_write "requirements.lock pyproject.toml" .venv/.installed
fi

# The official BLAKE3 C sources (pinned sdist of the `blake3` package, sha256-checked) that
# provenance.digests._blake3_native is compiled from; a no-op once they are in place.
.venv/bin/python tools/fetch_blake3_c.py

# The package's C extensions (provenance/merkle/_native/: bulk keccak256 for Merkle trees;
# provenance/digests/_native/: many BLAKE3 digests per call), built in place by the editable
# install with the machine's C compiler; rebuilt when their sources change.
native_sources="setup.py provenance/merkle/_native/* provenance/digests/_native/*.c provenance/digests/_native/blake3/SOURCE"
if ! stamp_ok "$native_sources" .venv/.native \
   || ! .venv/bin/python -c "import provenance.merkle._merkle_native, provenance.digests._blake3_native" 2>/dev/null; then
  echo "setup: building the C extensions provenance.merkle._merkle_native and provenance.digests._blake3_native"
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  stamp_write "$native_sources" .venv/.native
fi

if ! stamp_ok "package-lock.json" node_modules/.installed; then
  echo "setup: installing npm packages into node_modules"
  npm ci --no-audit --no-fund --loglevel=error
  stamp_write "package-lock.json" node_modules/.installed
fi

# The solc stand-in, named the way py-solc-x looks for an installed compiler.
solc_version="$(node -p 'require("solc/package.json").version')"
cat >"$data/solcx/solc-v$solc_version" <<SH
#!/bin/sh
exec node "$root/tools/solc/solc-standin.js" "\$@"
SH
chmod +x "$data/solcx/solc-v$solc_version"

# Every process started from this venv (ape, pytest, provenance, notebooks) sees the project's
# data folder, solc stand-in and node binaries without the user exporting anything.
# Values already set in the environment win. Ape's data folder is NOT set here: `ape accounts`,
# `ape run deploy --account ALIAS` and `provenance anchor --account ALIAS` see your own ~/.ape
# (Ape keeps the OpenZeppelin dependency it installs from node_modules there, as for any Ape project).
site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cat >"$site/ml_provenance_env.pth" <<PTH
import os; os.environ.setdefault("PROVENANCE_HOME", "$data"); os.environ.setdefault("SOLCX_BINARY_PATH", "$data/solcx"); b = "$root/node_modules/.bin"; p = os.environ.get("PATH", ""); os.environ["PATH"] = p if b in p.split(os.pathsep) else b + os.pathsep + p
PTH
echo "setup: ready (.venv, node_modules, solc $solc_version stand-in)"
