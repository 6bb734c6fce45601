"""Builds the one C extension, provenance.merkle._merkle_native (bulk keccak256 for Merkle trees); the
rest of the package's metadata is in pyproject.toml. The build is optional: without a working C
compiler the install goes on with a warning, and provenance.merkle uses its pure-Python twin
(provenance/merkle/pure.py; the same trees, slower)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
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
)
