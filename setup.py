"""Builds the one C extension, provenance._merkle_native (bulk keccak256 for Merkle trees); the
rest of the package's metadata is in pyproject.toml. The build is optional: without a working C
compiler the install goes on with a warning, and provenance.merkle uses its pure-Python twin
(provenance/_merkle_python.py; the same trees, slower)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "provenance._merkle_native",
            sources=["provenance/_native/merkle_native.c", "provenance/_native/keccak.c"],
            depends=["provenance/_native/keccak.h"],
            # Portable: the AVX2 and AVX-512 code paths are compiled with function attributes and
            # chosen at run time, so no -march=native here.
            extra_compile_args=["-O3", "-pthread", "-Wall", "-Wno-unused-function"],
            extra_link_args=["-pthread"],
            optional=True,
        )
    ]
)
