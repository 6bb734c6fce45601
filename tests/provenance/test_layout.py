"""The package's shape: one folder per stage of the data flow, imports pointing down the flow only.
It also keeps each module and function small enough to read whole (400 and 60 lines), private
names inside their package, and each network's name inside anchors/<network>/ (the sites left are
counted in NETWORK_NAMES_OUTSIDE).

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


def import_source(package: str, node: ast.ImportFrom) -> str:
    """The module a `from ... import` in `package` reads from, its dots resolved."""
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


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
            source = import_source(package, node)
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


# ---------------------------------------------------------------- modules that fit in a head

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # from `def` to its last line, decorators aside
NETWORKS = ("ethereum", "ipfs", "bitcoin")
# Where a network's name is still spelled outside its package, and how often (string literals,
# docstrings aside). Ethereum is the identity network (the pre tree commits an Ethereum account,
# trusted submitters are Ethereum addresses), and the config keeps the original system's spellings:
# those sites name a role, not a dispatch any network could take. The counts may only go down.
NETWORK_NAMES_OUTSIDE = {
    "provenance/anchoring/__init__.py": 1,  # send_batch's default network
    "provenance/anchoring/identity.py": 3,  # the signer that anchors is an Ethereum account
    "provenance/anchoring/manager.py": 1,
    "provenance/anchors/registry.py": 3,  # BUILT_IN: the packages it imports
    "provenance/cli/__init__.py": 6,  # the lazily loaded subcommands' names
    "provenance/cli/bitcoin.py": 1,  # the `provenance bitcoin` commands open their own network
    "provenance/cli/exits.py": 4,  # a missing module -> the extra to install
    "provenance/cli/ipfs.py": 1,  # the `provenance ipfs` commands open their own network
    "provenance/cli/revoke.py": 1,  # revocation is a contract call
    "provenance/cli/runs.py": 2,
    "provenance/config/__init__.py": 2,  # $ETH_PRIVATE_KEY over an account alias
    "provenance/config/models.py": 3,  # the default networks, the dict form of the Ethereum section
    "provenance/config/reading.py": 5,  # the original system's spellings, the key's config path
    "provenance/exports/check.py": 2,  # trusted submitters are Ethereum addresses
    "provenance/exports/slsa.py": 3,  # each network's URI scheme in an SLSA statement
    "provenance/training/audit.py": 1,  # the draw's seed: the post anchor's block hash
    "provenance/training/tracker.py": 2,
    "provenance/training/tracker_anchors.py": 2,  # the identity the pre tree commits
    "provenance/training/tracker_values.py": 3,  # config keys refused in a training config
    "provenance/verification/anchor_checks.py": 6,  # the identity, IPFS's record copies
    "provenance/verification/nested.py": 1,  # nested proofs are checked by the contract
    "provenance/verification/proofs.py": 2,
    "provenance/verification/scope.py": 5,  # what each network proves, in words
    "provenance/verification/verify.py": 1,  # trusted submitters
}


def functions(tree: ast.Module):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_every_module_fits_in_a_head():
    long = sorted(f"{p.relative_to(PACKAGE.parent)}: {n} lines" for p in PACKAGE.rglob("*.py")
                  if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES)
    assert not long, f"expected modules of at most {MAX_MODULE_LINES} lines (split one along its jobs), found:\n" + "\n".join(long)


def test_every_function_fits_in_a_head():
    long = sorted(f"{p.relative_to(PACKAGE.parent)}:{f.lineno} {f.name}: {f.end_lineno - f.lineno + 1} lines"
                  for p in PACKAGE.rglob("*.py") for f in functions(ast.parse(p.read_text()))
                  if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES)
    assert not long, f"expected functions of at most {MAX_FUNCTION_LINES} lines, found:\n" + "\n".join(long)


def stage_of(module: str) -> str:
    return ".".join(module.split(".")[:2])  # provenance.<stage>: the unit whose private names are its own


def test_no_private_name_is_used_across_packages():
    """`from provenance.x import _y` (or `m._y` on a module `m` imported from provenance.x) in a
    module of another stage: a private name used where its owner cannot see it."""
    mods = modules()
    known = set(mods)
    found = []
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        aliases: dict[str, str] = {}  # local name -> the provenance module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = import_source(package, node)
                for a in node.names:
                    target = f"{source}.{a.name}"
                    if target in known:
                        aliases[a.asname or a.name] = target
                    elif a.name.startswith("_") and not a.name.startswith("__") and source in known \
                            and stage_of(source) != stage_of(name):
                        found.append(f"{name}:{node.lineno} imports {source}.{a.name}")
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname and a.name in known:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                    and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and stage_of(aliases[node.value.id]) != stage_of(name):
                found.append(f"{name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not found, "expected private names used inside their own package only, found:\n" + "\n".join(sorted(found))


def network_literals(path: Path) -> int:
    """String literals that are a built-in network's name, docstrings aside."""
    tree = ast.parse(path.read_text(), str(path))
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return sum(1 for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in NETWORKS and id(n) not in docs)


def test_a_network_name_is_spelled_in_its_own_package():
    """A new network is its own folder (`anchors/registry.py`): code elsewhere that tests for a
    network by name would have to learn of each new one. The sites that remain are counted above."""
    grown = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        parts = rel.split("/")
        if len(parts) > 3 and parts[1] == "anchors" and parts[2] in NETWORKS:
            continue  # inside its own package
        count, allowed = network_literals(path), NETWORK_NAMES_OUTSIDE.get(rel, 0)
        if count > allowed:
            grown.append(f"{rel}: {count} (allowed {allowed})")
    assert not grown, ("expected a network's name inside anchors/<network>/ only (dispatch through the registry), "
                       "found it spelled elsewhere:\n" + "\n".join(grown))


def test_the_checks_catch_what_they_name(tmp_path):
    """Each check above fails on the thing it names (a module of 401 lines, a function of 61, a
    private import across stages, a network's name elsewhere)."""
    long_module = tmp_path / "long.py"
    long_module.write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    assert len(long_module.read_text().splitlines()) > MAX_MODULE_LINES
    body = "def f():\n" + "    x = 1\n" * MAX_FUNCTION_LINES
    (f,) = functions(ast.parse(body))
    assert f.end_lineno - f.lineno + 1 == MAX_FUNCTION_LINES + 1
    named = tmp_path / "named.py"
    named.write_text('"""ethereum in a docstring is fine."""\nif network == "ethereum":\n    pass\n')
    assert network_literals(named) == 1
    assert stage_of("provenance.exports.check") != stage_of("provenance.verification.verify")
    assert stage_of("provenance.anchors.ethereum.backend") == stage_of("provenance.anchors.open")
