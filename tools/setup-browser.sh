#!/usr/bin/env bash
# Headless Chromium from Debian, for the HTML report's browser test
# (tests/provenance/verification/test_report_browser.py). `make test` needs it; `make demo` does not.
# Idempotent: nothing happens when a `chromium` is already on PATH. Installs with apt-get as root
# (CI runs as root on a fresh Debian machine), else through sudo; refreshes the package lists only
# when the first try finds none (a fresh machine ships without them).
set -euo pipefail
browser="${PROVENANCE_CHROMIUM:-chromium}"
if command -v "$browser" >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "setup-browser: expected root or sudo to run 'apt-get install chromium', found neither; install Debian's chromium (or set PROVENANCE_CHROMIUM)" >&2
    exit 1
  }
  sudo="sudo"
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "setup-browser: expected apt-get (Debian) to install chromium, found none; install Chromium and set PROVENANCE_CHROMIUM to its command" >&2
  exit 1
}
echo "setup-browser: installing chromium from Debian (about 110 MB, half a minute)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q chromium >/dev/null \
  || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null; }
echo "setup-browser: ready ($("$browser" --version 2>/dev/null | head -n1))"
