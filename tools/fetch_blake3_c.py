"""Fetches the official BLAKE3 C implementation that provenance.digests._blake3_native is built from.

The source is the `blake3` package's sdist on the Python package index (blake3-py, by the BLAKE3
team): its `c_impl/vendor/` holds the official C code, the same files as the BLAKE3 repository's
`c/` folder. The sdist is pinned below by version and sha256; the file is found through pip's
configured index (the PEP 691 JSON or the PEP 503 HTML simple API), refused unless its sha256 is
the pinned one, and only the C sources and the licence are unpacked, into
`provenance/digests/_native/blake3/` (vendored: committed, so `pip install .` from a clone builds
the extension; the licence for them is the upstream LICENSE, copied there verbatim, and
`provenance/digests/_native/LICENSE-blake3`). Run it to check the vendored files against the sdist
(delete the folder first) or to move to a new pinned release.

    .venv/bin/python tools/fetch_blake3_c.py      (tools/setup.sh runs it)

`pip download` cannot fetch this sdist here: it prepares the package's metadata first, which
needs cargo and the crates registry. Exits 0 when the pinned sources are already in place.
"""

from __future__ import annotations

import hashlib
import html.parser
import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
from pathlib import Path

PACKAGE = "blake3"
VERSION = "1.0.11"
SDIST = f"{PACKAGE}-{VERSION}.tar.gz"
SHA256 = "d73c0a87304d41045f6753a922113bede3ab09eda2d20371566a5bbe357c3deb"

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "provenance" / "digests" / "_native"
DEST = NATIVE / "blake3"
STAMP = DEST / "SOURCE"
VENDOR = f"{PACKAGE}-{VERSION}/c_impl/vendor/"
# The official C files the extension compiles (x86-64 Unix assembly, NEON and the intrinsics
# files for other targets), and the licence.
FILES = [
    "blake3.c", "blake3.h", "blake3_impl.h", "blake3_dispatch.c", "blake3_portable.c",
    "blake3_sse2_x86-64_unix.S", "blake3_sse41_x86-64_unix.S", "blake3_avx2_x86-64_unix.S",
    "blake3_avx512_x86-64_unix.S", "blake3_sse2.c", "blake3_sse41.c", "blake3_avx2.c", "blake3_avx512.c",
    "blake3_neon.c",
]  # fmt: skip
LICENSE = f"{PACKAGE}-{VERSION}/LICENSE"
STAMP_TEXT = f"{SDIST} sha256:{SHA256}\n"


def index_url() -> str:
    """pip's index: $PIP_INDEX_URL, else `pip config`'s index-url, else pip's default."""
    if url := os.environ.get("PIP_INDEX_URL", "").strip():
        return url
    for key in ("global.index-url", "install.index-url", "download.index-url"):
        found = subprocess.run([sys.executable, "-m", "pip", "config", "get", key], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    from pip._internal.models.index import PyPI  # pip's own default, so no host is written here

    return PyPI.simple_url


def get(url: str, accept: str | None = None) -> tuple[bytes, str]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read(), response.headers.get("Content-Type", "")


class _Links(html.parser.HTMLParser):
    """The `<a href>` targets of a PEP 503 simple page, by their text (the file name)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links[data.strip()] = self._href
            self._href = None


def sdist_url(index: str) -> str:
    page = urllib.parse.urljoin(index.rstrip("/") + "/", f"{PACKAGE}/")
    body, kind = get(page, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    if "json" in kind:
        files = {f["filename"]: f["url"] for f in json.loads(body)["files"]}
    else:
        parser = _Links()
        parser.feed(body.decode("utf-8", "replace"))
        files = parser.links
    if SDIST not in files:
        raise SystemExit(f"fetch_blake3_c: expected {SDIST} on the index {page}, found {len(files)} other files")
    return urllib.parse.urljoin(page, files[SDIST]).split("#", 1)[0]


def main() -> int:
    if STAMP.is_file() and STAMP.read_text() == STAMP_TEXT and all((DEST / name).is_file() for name in FILES):
        return 0
    url = sdist_url(index_url())
    data, _ = get(url)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        print(f"fetch_blake3_c: expected {SDIST} with sha256 {SHA256}, found {digest}", file=sys.stderr)
        return 1
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        wanted = {VENDOR + name: name for name in FILES} | {LICENSE: "LICENSE"}
        found = {}
        for member in tar.getmembers():
            if member.name in wanted and member.isfile():
                found[wanted[member.name]] = tar.extractfile(member).read()  # type: ignore[union-attr]
    missing = sorted(set(wanted.values()) - set(found))
    if missing:
        print(f"fetch_blake3_c: expected {', '.join(missing)} in {SDIST}, found none", file=sys.stderr)
        return 1
    committed = (NATIVE / "LICENSE-blake3").read_bytes()
    if found["LICENSE"] != committed:
        print(f"fetch_blake3_c: expected the licence in {SDIST} to equal LICENSE-blake3, found a different text", file=sys.stderr)
        return 1
    DEST.mkdir(parents=True, exist_ok=True)
    for name, content in found.items():
        tmp = DEST / f".{name}.tmp"
        tmp.write_bytes(content)
        tmp.replace(DEST / name)
    tmp = DEST / ".SOURCE.tmp"
    tmp.write_text(STAMP_TEXT)
    tmp.replace(STAMP)
    print(f"fetch_blake3_c: BLAKE3 C sources from {SDIST} (sha256 {SHA256[:16]}...) in {DEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
