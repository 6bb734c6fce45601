"""The package's shape: one folder per stage of the data flow, imports pointing down the flow only.

Every `import` in `provenance/` (those inside functions too) is read with `ast`; the test fails on
an import cycle between modules (imports under `if TYPE_CHECKING:` aside), or on a module
importing a layer above its own (those included). Layers, lowest
first (a module may import its own layer and those below):
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "provenance"

LAYERS = [
    ("errors", "files", "secrets"),  # the foundation: error hierarchy, safe reads, atomic writes, the data home, the key detector
    ("merkle",),  # the leaf and the tree (spec, fast path, pure-Python twin, C)
    ("digests",),  # artifacts -> canonical bytes -> digests -> leaves
    ("record",),  # the versioned record, receipts, anchor states, verdicts
    ("anchors",),  # backends: interface, open_backend, one folder per network
    ("config",),  # the typed configuration (reads the Ethereum keys helpers)
    ("anchoring",),  # delivery of records to anchors; the outbox stores
    ("verification",),  # verify a run, proofs, reports
    ("exports",),  # the run in standard formats (SLSA, CycloneDX, OpenSSF model signing), and their checks
    ("training",),  # ProvenanceTracker, the example job and its variants
    ("integrations",),  # Lightning, Hugging Face, MLflow callbacks
    ("cli",),  # the `provenance` command and the torchrun entry point
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def type_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (annotations only, never run)."""
    return {id(node) for block in ast.walk(tree) if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
            for stmt in block.body for node in ast.walk(stmt)}


def imports(name: str, path: Path, known: set[str], runtime_only: bool = False) -> set[str]:
    """The package's modules that `name` imports, anywhere in its body (with `runtime_only`, not
    those under `if TYPE_CHECKING:`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text(), str(path))
    skipped = type_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import provenance.x.y` names the module x.y
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("provenance."):
                found.add(target)
    return found


def graph(runtime_only: bool = False) -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods), runtime_only) for name, path in mods.items()}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    return LAYER.get(parts[1]) if len(parts) > 1 else None  # `provenance` itself: the public API


def test_every_module_belongs_to_a_layer():
    unplaced = sorted(m for m in modules() if m != "provenance" and layer_of(m) is None)
    assert not unplaced, f"expected every module in a layer of tests/test_layout.py, found {unplaced}"


def test_imports_point_down_the_flow_only():
    upward = sorted(
        f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)})"
        for m, targets in graph().items() if layer_of(m) is not None
        for t in targets if layer_of(t) is not None and layer_of(t) > layer_of(m)
    )
    assert not upward, "expected imports down the flow only, found:\n" + "\n".join(upward)


def test_no_import_cycles():
    g = graph(runtime_only=True)  # a type named only in annotations may point back
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [node, nxt]) if nxt in stack else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, stack + [node])
        state[node] = "done"

    for node in sorted(g):
        if node not in state:
            visit(node, [])
    assert not cycles, "expected no import cycles, found:\n" + "\n".join(cycles)


@pytest.mark.parametrize("layer", [names[0] for names in LAYERS[1:] if names[0] != "config"])
def test_each_stage_is_a_folder(layer):
    assert (PACKAGE / layer / "__init__.py").is_file(), f"expected provenance/{layer}/, found none"


def test_the_top_level_holds_only_the_foundation_and_the_api():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "errors.py", "files.py", "secrets.py"], f"expected the foundation and the API at the top, found {top}"
    assert (PACKAGE / "config" / "__init__.py").is_file(), "expected provenance/config/, found none"
