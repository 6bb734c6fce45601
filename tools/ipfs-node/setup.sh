#!/usr/bin/env bash
# Idempotent, offline-safe install of the embedded IPFS node: js-ipfs (npm `ipfs@0.66.1`) into
# tools/ipfs-node/node_modules from its own package-lock.json, kept apart from the main
# node_modules so the main install stays light (js-ipfs is ~1,000 packages, ~300 MB, ~3 min).
# Skipped when package.json and package-lock.json have not changed since the last install.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

stamp="$(sha256sum package.json package-lock.json | sha256sum | cut -c1-64)"
if [ -f node_modules/.installed ] && [ "$(cat node_modules/.installed)" = "$stamp" ]; then
  exit 0
fi
echo "setup-ipfs: installing js-ipfs into tools/ipfs-node/node_modules (about 3 minutes)"
# `npm install` from the lock, not `npm ci`: an optional dependency of js-ipfs (wrtc's
# electron-webrtc -> electron-eval -> headless) is a GitHub tarball that cannot be fetched here,
# so it is absent from the lock and `npm ci` refuses the lock as out of sync. With --no-save the
# lock is not rewritten; the tree installed is the lock's (checked: identical to a fresh install).
npm install --no-save --no-audit --no-fund --loglevel=error
node -e 'import("ipfs-daemon").then(() => {}, (e) => { console.error(`setup-ipfs: ipfs-daemon does not load: ${e.message}`); process.exit(1) })'
echo "$stamp" >node_modules/.installed
echo "setup-ipfs: ready (js-ipfs $(node -p 'JSON.parse(require("fs").readFileSync("node_modules/ipfs/package.json")).version'))"
