"""Verifiable provenance for machine-learning training runs.

One folder per stage of the data flow: artifacts -> digests (`digests`) -> leaves -> Merkle tree
(`merkle`) -> record (`record`) -> anchors (`anchors`, delivered by `anchoring`) -> verification
(`verification`). `ProvenanceTracker` (`training`) ties it together for a training loop;
`BlockchainManager` (`anchoring`) is the original guide's API for bare roots.
"""

from __future__ import annotations

from typing import Any

from .errors import AnchorError, ConfigError, FormatError, MerkleError, ProvenanceError, VerificationError

# Loaded on first use, so `import provenance.cli` (and `provenance --help`) pays for neither
# web3 nor the Merkle fast path. `ProvenanceBlockchainTracker` is the original system's name for
# the tracker (`ml_provenance.provenance.blockchain`), so its users' imports keep working.
_LAZY = {
    "Leaf": ("merkle", "Leaf"),
    "MerkleTree": ("merkle", "MerkleTree"),
    "BlockchainManager": ("anchoring.manager", "BlockchainManager"),
    "ProvenanceTracker": ("training.tracker", "ProvenanceTracker"),
    "ProvenanceBlockchainTracker": ("training.tracker", "ProvenanceTracker"),
}

__all__ = [
    "AnchorError",
    "BlockchainManager",
    "ConfigError",
    "FormatError",
    "Leaf",
    "MerkleError",
    "MerkleTree",
    "ProvenanceBlockchainTracker",
    "ProvenanceError",
    "ProvenanceTracker",
    "VerificationError",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The original system's module paths with the package name changed: `ml_provenance.provenance.tracker`
# becomes `provenance.provenance.tracker` (or the shorter `provenance.tracker`). Each is a module
# made on import that holds the guide's names; no file of its own, so the package keeps one folder
# per stage.
_GUIDE_MODULES = {
    "tracker": ("ProvenanceTracker",),
    "blockchain": ("ProvenanceBlockchainTracker", "ProvenanceTracker", "BlockchainManager"),
    "manager": ("BlockchainManager",),
}


def _install_guide_modules() -> None:
    import sys

    short = {f"{__name__}.{name}": names for name, names in _GUIDE_MODULES.items()}
    nested = {f"{__name__}.provenance.{name}": names for name, names in _GUIDE_MODULES.items()}

    class GuideModules:  # a meta path finder and loader by protocol (importlib.abc costs ~10 ms to import)
        def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
            if fullname in short or fullname in nested or fullname == f"{__name__}.provenance":
                from importlib.machinery import ModuleSpec

                return ModuleSpec(fullname, self, is_package=fullname.endswith(".provenance"))
            return None

        def create_module(self, spec: Any) -> None:
            return None

        def exec_module(self, module: Any) -> None:
            package = sys.modules[__name__]
            for name in short.get(module.__name__) or nested.get(module.__name__) or ():
                setattr(module, name, getattr(package, name))
            module.__doc__ = "The original system's module path, kept for its users' imports."

    if not any(type(f).__name__ == "GuideModules" for f in sys.meta_path):
        sys.meta_path.append(GuideModules())


_install_guide_modules()
