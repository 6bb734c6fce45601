#!/usr/bin/env bash
# The package installs anywhere: the working tree as a clean clone would hold it (tracked and
# untracked-but-not-ignored files; no build output), `pip install`ed WITHOUT Ape into a fresh venv
# with the newest numpy 2, click 8.5 and web3 8 the package allows (the lock, held back by
# eth-ape 0.8, has numpy 1.26, click 8.1, web3 7). Both C extensions must build, the demo must
# train and verify there, in a home of its own. `make test` runs it (~2 min).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/.provenance/install-check
rm -rf "$WORK"
mkdir -p "$WORK/src" "$WORK/home"
git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - 2>/dev/null | tar -xf - -C "$WORK/src"
PYTHON=$("$ROOT/.venv/bin/python" -c 'import sys; print(sys._base_executable)')  # the interpreter .venv was made from
"$PYTHON" -m venv --without-pip "$WORK/venv"
# .venv's pip installs into the new venv (--python); torch is the lock's CPU build (an unpinned
# torch pulls the CUDA one: gigabytes), everything else as new as the package allows.
TORCH=$(grep '^torch==' requirements.lock)
"$ROOT/.venv/bin/python" -m pip --python "$WORK/venv/bin/python" install --quiet \
  "$WORK/src[train]" "$TORCH" "numpy>=2" "click>=8.5" "web3>=8,<9" 2>&1 | grep -v "is ignored: it is neither" || true
"$WORK/venv/bin/python" - <<'PY'
import importlib.metadata as md, importlib.util as iu, sys
found = {n: md.version(n) for n in ("numpy", "click", "web3")}
assert int(found["numpy"].split(".")[0]) >= 2 and found["click"] >= "8.5" and found["web3"].startswith("8."), found
assert iu.find_spec("ape") is None, "Ape installed: the check is of the package without it"
import provenance.digests._blake3_native, provenance.merkle._merkle_native  # both C extensions built
print("install check: ml-provenance without Ape,", ", ".join(f"{n} {v}" for n, v in found.items()), "- both C extensions built")
PY
cd "$WORK/home"
export PROVENANCE_HOME=$WORK/home/data PATH=$ROOT/node_modules/.bin:$PATH
trap '"$WORK/venv/bin/provenance" chain stop >/dev/null 2>&1 || true' EXIT  # the demo's local chain
"$WORK/venv/bin/provenance" train --epochs 2 --base-dir runs >/dev/null
"$WORK/venv/bin/provenance" verify latest --base-dir runs --brief
