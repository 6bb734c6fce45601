"""`provenance train` while it runs: a line per epoch on stdout; progress bars on stderr only when
stderr is a terminal (a real pseudo-terminal here), none in a pipe; with --json, stdout is the
one JSON summary whatever stderr is. The run's files get the umask's modes (0640 under 0027,
0644 under 0022), not 0600."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import stat
import struct
import subprocess
import sys
import termios

from tests.support.cli import ROOT, cli

# The root when the epoch tree is built by the time the epoch ends; "in progress" when it is built
# beside training (the summary then gives it).
EPOCH_LINE = re.compile(r"^epoch (\d)/2  loss (\d+\.\d{4})  accuracy (\d\.\d{3})  "
                        r"(?:root (0x[0-9a-f]{8})\.\.\.([0-9a-f]{4})  eth (pending|submitted|confirmed)|epoch tree in progress)$")


def modes(folder) -> dict[str, int]:
    """The permission bits of every file and folder in a run folder, by relative path."""
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*")}


def test_train_prints_a_line_per_epoch_and_no_bar_in_a_pipe(tmp_path):
    args = [sys.executable, "-m", "provenance.cli", "train", "--epochs", "2", "--seed", "3",
            "--base-dir", str(tmp_path), "--run-id", "piped"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, preexec_fn=lambda: os.umask(0o027))
    assert done.returncode == 0, done.stderr
    matches = [m for m in map(EPOCH_LINE.match, done.stdout.splitlines()) if m]
    assert [m.group(1) for m in matches] == ["1", "2"], done.stdout
    record = json.loads((tmp_path / "piped" / "record.json").read_text())
    for m in matches:
        stage = next(s for s in record["stages"] if s["name"] == f"epoch-{m.group(1)}")
        if m.group(4):
            assert stage["root"].startswith(m.group(4)) and stage["root"].endswith(m.group(5))
        assert float(m.group(2)) == round(stage["metrics"]["loss"], 4)
        assert float(m.group(3)) == round(stage["metrics"]["test_accuracy"], 3)
    assert "\r" not in done.stderr and "training" not in done.stderr and "%|" not in done.stderr  # no bar in a pipe

    found = modes(tmp_path / "piped")
    assert {"record.json", "report.json", "report.md", "model.safetensors", "checkpoints/epoch-001.safetensors"} <= set(found)
    assert {path: m for path, m in found.items() if m != (0o750 if (tmp_path / "piped" / path).is_dir() else 0o640)} == {}


def test_train_shows_bars_on_a_terminal_and_json_stays_clean(tmp_path):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal has a width
    args = [sys.executable, "-m", "provenance.cli", "train", "--epochs", "2", "--seed", "3",
            "--base-dir", str(tmp_path), "--run-id", "tty", "--json"]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, close_fds=True,
                               preexec_fn=lambda: os.umask(0o022))
    os.close(slave)
    terminal = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    stdout = process.stdout.read()
    assert process.wait(timeout=300) == 0, terminal.decode(errors="replace")
    os.close(master)
    shown = terminal.decode(errors="replace")
    for phase in ("hashing data", "anchoring pre", "training", "2/2", "anchoring post", "verifying"):
        assert phase in shown, (phase, shown[-2000:])
    summary = json.loads(stdout)  # stdout holds the JSON and nothing else: no epoch lines, no bars
    assert summary["verified"] is True
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    assert set(summary) >= {"run_dir", "test_accuracy", "roots", "anchors", "history", "verified", "report", "phases_s"}
    found = modes(tmp_path / "tty")
    assert {path: m for path, m in found.items() if m != (0o755 if (tmp_path / "tty" / path).is_dir() else 0o644)} == {}


def test_epoch_line_without_a_root_yet_or_without_epoch_trees():
    from provenance.cli.progress import epoch_line
    from provenance.training.job import EpochDone

    root = "0x" + "ab" * 31 + "cdef"
    assert epoch_line(EpochDone(3, 10, 0.123456, 0.9, root, {"ethereum": "submitted", "ipfs": "pending"})) == \
        "epoch  3/10  loss 0.1235  accuracy 0.900  root 0xabababab...cdef  eth submitted, ipfs pending"
    assert epoch_line(EpochDone(1, 2, 1.0, 0.5, None, {}, tree_pending=True)) == \
        "epoch 1/2  loss 1.0000  accuracy 0.500  epoch tree in progress"
    assert epoch_line(EpochDone(1, 2, 1.0, 0.5, None, {})).endswith("accuracy 0.500  no epoch tree")


def test_every_epoch_is_drawn_however_fast_the_epochs_are():
    """tqdm skips an update within 0.1 s of its last drawing: short epochs must still each be shown."""
    import io

    from provenance.cli.progress import TrainingProgress
    from provenance.training.job import EpochDone

    stream = io.StringIO()
    progress = TrainingProgress(3, lines=False, bars=True, stream=stream)
    progress.phase("training")
    for epoch in (1, 2, 3):
        progress.epoch(EpochDone(epoch, 3, 1.0 / epoch, 0.5, None, {}))
        assert f"{epoch}/3" in stream.getvalue().rsplit("\r", 1)[-1]
    progress.close()
