"""Builds the package's two C extensions; the rest of its metadata is in pyproject.toml.

- provenance.merkle._merkle_native: bulk keccak256 for Merkle trees.
- provenance.digests._blake3_native: many BLAKE3 digests per call (dataset samples, state-dict
  tensors), compiled from the official BLAKE3 C implementation vendored in
  provenance/digests/_native/blake3/ (from the pinned `blake3` sdist, its licence beside it;
  `tools/fetch_blake3_c.py` checks them against that sdist).

Both builds are optional: without a working C compiler the install goes on, saying so in one
line, and the package uses its pure-Python twins
(provenance/merkle/pure.py; blake3-py one digest at a time in provenance/digests/hasher.py): the
same bytes, slower.
"""

import platform
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

BLAKE3 = Path("provenance/digests/_native/blake3")
X86_64_ASM = [f"blake3_{isa}_x86-64_unix.S" for isa in ("sse2", "sse41", "avx2", "avx512")]


def blake3_extension() -> Extension | None:
    """The BLAKE3 extension as upstream's c_impl/setup.py builds it: on x86-64 Unix the assembly
    files (handed to the C compiler at link time; it assembles .S itself), on AArch64 the NEON
    intrinsics, elsewhere the portable code only. The CPU's widest instruction set is chosen at
    run time by blake3_dispatch.c."""
    if not (BLAKE3 / "blake3.c").is_file():
        print(f"warning: {BLAKE3}/ is empty (run tools/fetch_blake3_c.py); building without "
              "provenance.digests._blake3_native", file=sys.stderr)
        return None
    # blake3.c is not a source of its own: blake3_native.c includes it (it needs its static steps
    # to hash one input on several threads).
    sources = ["provenance/digests/_native/blake3_native.c"] + [
        str(BLAKE3 / name) for name in ("blake3_dispatch.c", "blake3_portable.c")
    ]
    machine = platform.machine().lower()
    x86_64 = machine in ("x86_64", "amd64") and sys.maxsize > 2**32
    extra_objects: list[str] = []
    macros: list[tuple[str, str | None]] = []
    if x86_64 and sys.platform != "win32":
        extra_objects = [str(BLAKE3 / name) for name in X86_64_ASM]
    elif machine in ("aarch64", "arm64"):
        sources.append(str(BLAKE3 / "blake3_neon.c"))
    else:
        macros = [(f"BLAKE3_NO_{isa}", None) for isa in ("SSE2", "SSE41", "AVX2", "AVX512")]
    return Extension(
        "provenance.digests._blake3_native",
        sources=sources,
        depends=[str(BLAKE3 / "blake3.c"), str(BLAKE3 / "blake3.h"), str(BLAKE3 / "blake3_impl.h")],
        extra_objects=extra_objects,
        define_macros=macros,
        extra_compile_args=["-O3", "-pthread", "-Wall", "-Wno-unused-function", "-Wno-unused-const-variable"],
        extra_link_args=["-pthread"],
        optional=True,
    )


extensions = [
    Extension(
        "provenance.merkle._merkle_native",
        sources=["provenance/merkle/_native/merkle_native.c", "provenance/merkle/_native/keccak.c"],
        depends=["provenance/merkle/_native/keccak.h"],
        # Portable: the AVX2 and AVX-512 code paths are compiled with function attributes and
        # chosen at run time, so no -march=native here.
        extra_compile_args=["-O3", "-pthread", "-Wall", "-Wno-unused-function"],
        extra_link_args=["-pthread"],
        optional=True,
    )
]
if (blake3 := blake3_extension()) is not None:
    extensions.append(blake3)

class BuildOptional(build_ext):
    """Builds what the compiler can; says once, in one line, what it could not (no traceback)."""

    def run(self) -> None:
        self.missed: list[str] = []
        try:
            super().run()
        except Exception:  # no compiler at all: nothing could be built
            self.missed = [ext.name for ext in self.extensions]
        if self.missed:
            print(f"warning: no C compiler built {', '.join(self.missed)}: the package uses its pure-Python "
                  "paths instead (the same digests, slower)", file=sys.stderr)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception:
            self.missed.append(ext.name)


for ext in extensions:
    ext.optional = False  # BuildOptional catches the failure itself, to say it once

setup(ext_modules=extensions, cmdclass={"build_ext": BuildOptional})
