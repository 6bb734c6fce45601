"""Pictures of a run for people (the walkthrough notebook, the HTML report): training curves, the
provenance timeline (pre -> epochs -> post with their anchors), a small Merkle tree with a proof
path, and the proof path alone for a tree of any size.

Each function draws on a new matplotlib figure (or the given axes) and returns the figure.
Needs matplotlib (`pip install ml-provenance[plots]`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..merkle import Leaf, MerkleTree, leaf_hash
from ..record import Record

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def training_curves(history: Sequence[dict[str, Any]], privacy: Sequence[dict[str, Any]] = ()) -> Figure:
    """Loss and test accuracy per epoch (`TrainResult.history`) and, for a DP run, the epsilon
    spent by the end of each epoch (`TrainResult.privacy`)."""
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3 if privacy else 2, figsize=(11 if privacy else 8, 3.2), layout="constrained")
    for ax, (key, title) in zip(axes, [("loss", "training loss"), ("test_accuracy", "test accuracy")]):
        points = [(e, h.get(key)) for e, h in zip(epochs, history) if h.get(key) is not None]  # a run may record no accuracy
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
        ax.set(title=title if points else f"{title}: not recorded", xlabel="epoch", xticks=epochs)
    if privacy:
        axes[2].plot([p["epoch"] for p in privacy], [p["epsilon"] for p in privacy], marker="o", color="tab:red")
        axes[2].set(title="privacy spent (epsilon)", xlabel="epoch", xticks=epochs, ylim=(0, None))
    return fig


def timeline(record: Record) -> Figure:
    """The run's trees left to right, each committing to the one before (`chain.prev`), with the
    short root and every anchor (network, state, block or transaction) under it."""
    import matplotlib.pyplot as plt

    stages = record.stages
    fig, ax = plt.subplots(figsize=(max(6.0, 2.4 * len(stages)), 2.0), layout="constrained")
    for x, stage in enumerate(stages):
        anchors = record.receipts_for(stage.name)
        confirmed = any(r.state.value == "confirmed" for r in anchors.values())
        ax.annotate(f"{stage.name}\n{_short(stage.root)}\n{len(stage.leaves)} leaves", (x, 0), ha="center", va="center",
                    fontsize=9, bbox={"boxstyle": "round", "fc": "#d8f0d8" if confirmed else "#f4e0c0", "ec": "0.4"})
        lines = [_anchor_line(network, receipt) for network, receipt in anchors.items()] or ["not anchored"]
        ax.text(x, -0.45, "\n".join(lines), ha="center", va="top", fontsize=7.5, color="0.25")
        if x:
            ax.annotate("", (x - 0.32, 0), (x - 0.68, 0), arrowprops={"arrowstyle": "->", "color": "0.3"})
    ax.text(len(stages) / 2 - 0.5, 0.55, "each tree holds a chain.prev leaf with the previous root", ha="center", fontsize=8, color="0.4")
    ax.set(xlim=(-0.6, len(stages) - 0.4), ylim=(-0.95, 0.7))
    ax.axis("off")
    return fig


def merkle_tree(tree: MerkleTree, highlight: Leaf | None = None, ax: Axes | None = None) -> Figure:
    """Every node of a small tree (a few dozen leaves at most), leaves labelled `kind:name`. With
    `highlight`, the path from that leaf to the root in red and its proof (the siblings) in blue."""
    import matplotlib.pyplot as plt

    nodes = tree.nodes
    labels = {nodes.index(leaf_hash(v), len(nodes) // 2): v.label for v in tree.values}
    positions: dict[int, tuple[float, int]] = {}
    next_leaf = [0]

    def place(i: int, depth: int) -> float:
        children = [c for c in (2 * i + 1, 2 * i + 2) if c < len(nodes)]
        if children:
            x = sum(place(c, depth + 1) for c in children) / len(children)
        else:
            x = float(next_leaf[0])
            next_leaf[0] += 1
        positions[i] = (x, depth)
        return x

    place(0, 0)
    depth = max(d for _, d in positions.values())
    path, proof = set(), set()
    if highlight is not None:
        i = nodes.index(leaf_hash(highlight), len(nodes) // 2)
        while i > 0:
            path.add(i)
            proof.add(i + 1 if i % 2 else i - 1)
            i = (i - 1) // 2
        path.add(0)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(8.0, 0.75 * len(tree)), 1.3 * depth + 2.5), layout="constrained")
    else:
        fig = ax.figure
    for i, (x, d) in positions.items():
        for c in (2 * i + 1, 2 * i + 2):
            if c in positions:
                cx, cd = positions[c]
                ax.plot([x, cx], [-d, -cd], color="tab:red" if c in path else "0.7", lw=2 if c in path else 1, zorder=1)
    for i, (x, d) in positions.items():
        color = "tab:red" if i in path else "tab:blue" if i in proof else "0.55"
        ax.scatter([x], [-d], s=40, color=color, zorder=2)
        if i in labels:
            ax.text(x, -d - 0.12, labels[i], rotation=90, ha="center", va="top", fontsize=7, color=color if color != "0.55" else "0.2")
        else:
            ax.text(x, -d + 0.12, _short(nodes[i], 4), ha="center", va="bottom", fontsize=6.5, color="0.3")
    title = f"{len(tree)} leaves, root {_short(tree.root)}"
    if highlight is not None:
        title += f": path of {highlight.label} (red), its proof of {len(proof)} hashes (blue)"
    ax.set_title(title, fontsize=9)
    ax.set(ylim=(-depth - 2.2, 0.5))
    ax.axis("off")
    return fig


def proof_path(tree: MerkleTree, leaf: Leaf, ax: Axes | None = None) -> Figure:
    """The path from one leaf to the root of a tree of any size: each level's node on the path (red)
    and the sibling hash its proof carries (blue), the leaf's `kind:name` at the bottom."""
    import matplotlib.pyplot as plt

    nodes = tree.nodes
    i = nodes.index(leaf_hash(leaf), len(nodes) // 2)
    levels: list[tuple[int, int | None]] = []  # (node on the path, its sibling) from the leaf up
    while i > 0:
        levels.append((i, i + 1 if i % 2 else i - 1))
        i = (i - 1) // 2
    levels.append((0, None))
    if ax is None:
        fig, ax = plt.subplots(figsize=(8.0, 0.55 * len(levels) + 1.4), layout="constrained")
    else:
        fig = ax.figure
    for y, (node, sibling) in enumerate(levels):
        if y:
            ax.plot([0, 0], [y - 1, y], color="tab:red", lw=2, zorder=1)
            ax.plot([1, 0], [y - 1, y], color="tab:blue", lw=1, zorder=1)
        ax.scatter([0], [y], s=40, color="tab:red", zorder=2)
        label = "root " + _short(nodes[node]) if node == 0 else f"{leaf.label}  {_short(nodes[node])}" if y == 0 else _short(nodes[node])
        ax.text(-0.08, y, label, ha="right", va="center", fontsize=7.5, color="tab:red")
        if sibling is not None:
            ax.scatter([1], [y], s=40, color="tab:blue", zorder=2)
            ax.text(1.08, y, f"proof[{y}] {_short(nodes[sibling])}", ha="left", va="center", fontsize=7.5, color="tab:blue")
    ax.set_title(f"{len(tree)} leaves, root {_short(tree.root)}: path of {leaf.label} (red), "
                 f"its proof of {len(levels) - 1} hashes (blue)", fontsize=9)
    ax.set(xlim=(-2.6, 3.2), ylim=(-0.6, len(levels) - 0.4))
    ax.axis("off")
    return fig


def _short(value: bytes, n: int = 6) -> str:
    return f"0x{value.hex()[:n]}…{value.hex()[-4:]}" if n > 4 else f"{value.hex()[:n]}…"


def _anchor_line(network: str, receipt: Any) -> str:
    where = receipt.location
    spot = (f"block {where['block_number']}" if "block_number" in where else
            f"tx {str(where.get('tx_hash') or where.get('txid') or where.get('cid') or '')[:10]}…")
    return f"{network}: {receipt.state.value}, {spot}"
