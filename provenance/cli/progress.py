"""What `provenance train` shows while a run goes on: a line per epoch on stdout, and progress
bars on stderr only when stderr is a terminal (none in CI logs or pipes).

Training never prints; it calls the hooks this module passes (`provenance.training.job.Hooks`).
With `--json` no epoch line is printed: stdout carries the one JSON summary at the end.
"""

from __future__ import annotations

import sys
from typing import IO, Any

import click

from .listing import short_network, short_root

# The phases `run_training` announces, grouped into one bar before and one after the epochs.
BEFORE = ("hashing data", "hashing model", "anchoring pre")
AFTER = ("anchoring post", "verifying")


def epoch_line(done: Any) -> str:
    """`epoch 2/3  loss 0.4123  accuracy 0.912  root 0x1a2b3c4d...9f00  eth pending`."""
    if done.root:
        anchors = ", ".join(f"{short_network(n)} {state}" for n, state in done.anchors.items()) or "not anchored"
        tail = f"root {short_root(done.root)}  {anchors}"
    else:  # still being built beside training (its root comes in the summary), or no epoch trees at all
        tail = "epoch tree in progress" if done.tree_pending else "no epoch tree"
    width = len(str(done.epochs))
    return (f"epoch {done.epoch:>{width}}/{done.epochs}  loss {done.loss:.4f}  accuracy {done.accuracy:.3f}  "
            f"{tail}")


class TrainingProgress:
    """The hooks of one `provenance train`: pass `phase` and `epoch` to `Hooks`, call `close`."""

    def __init__(self, epochs: int, *, lines: bool, bars: bool | None = None, stream: IO[str] | None = None) -> None:
        self.epochs = epochs
        self.lines = lines
        self.stream = stream or sys.stderr
        self.bars = _is_terminal(self.stream) if bars is None else bars
        self._bar: Any = None
        self._group: tuple[str, ...] = ()

    def phase(self, name: str) -> None:
        if not self.bars:
            return
        group = BEFORE if name in BEFORE else AFTER if name in AFTER else ("training",)
        if group != self._group:
            self._open(group)
        if group != ("training",):
            self._bar.set_description_str(name)
            self._bar.n = group.index(name)
            self._bar.refresh()

    def epoch(self, done: Any) -> None:
        if self.lines:
            self._write(epoch_line(done))
        if self._bar is not None and self._group == ("training",):
            self._bar.set_postfix(loss=f"{done.loss:.4f}", accuracy=f"{done.accuracy:.3f}", refresh=False)
            self._bar.update(1)
            self._bar.refresh()  # every epoch is drawn: tqdm skips updates within 0.1 s of the last

    def close(self) -> None:
        if self._bar is not None:
            if self._group != ("training",):
                self._bar.n = self._bar.total
            self._bar.close()
            self._bar = None

    def _open(self, group: tuple[str, ...]) -> None:
        from tqdm import tqdm  # only on a terminal: a pipe never pays the import

        self.close()
        self._group = group
        if group == ("training",):
            self._bar = tqdm(total=self.epochs, desc="training", unit="epoch", file=self.stream, leave=False)
        else:
            self._bar = tqdm(total=len(group), desc=group[0], unit="step", file=self.stream, leave=False,
                             bar_format="{desc:<15} {bar} {n_fmt}/{total_fmt} [{elapsed}]")

    def _write(self, line: str) -> None:
        if self._bar is not None:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stdout)  # clears the bar, writes the line, redraws the bar
        else:
            click.echo(line)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or foreign stream
        return False
