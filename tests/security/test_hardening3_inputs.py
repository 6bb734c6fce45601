"""Hardening round three (issue 22): what a run folder, a path or an option an attacker hands us
can do to the verifier's machine. Each test is one item of the issue, with the input it used:
nothing hangs, exhausts memory, clobbers a file that is not ours, or prints a traceback."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from provenance import ProvenanceTracker
from provenance.record import runlock
from tests.support.cli import ROOT, cli

OFF = {"storage_options": {"store_before_training": False, "store_epoch_checkpoints": False, "store_after_training": False}}


def one_line(done: subprocess.CompletedProcess) -> str:
    """The error line of a refused command: one line on stderr, no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def small_run(base: Path, run_id: str, results: dict | None = None, config: dict | None = None) -> Path:
    """A real run folder (pre and post trees, model, config), nothing anchored unless `config`
    says so: seconds, not a training."""
    rng = np.random.default_rng(0)
    tracker = ProvenanceTracker(base, config or OFF, run_id=run_id)
    tracker.track_data((rng.random((20, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 20)), None)
    torch.manual_seed(0)
    tracker.track_model(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)))
    tracker.store_merkle_on_blockchain_before_training({"lr": 0.1})
    tracker.store_merkle_on_blockchain_after_training(results or {"accuracy": 0.5})
    tracker.close()
    return tracker.run_dir


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    return small_run(tmp_path_factory.mktemp("runs"), "base1")


@pytest.fixture
def copy(base_run, tmp_path) -> Path:
    return Path(shutil.copytree(base_run, tmp_path / "runs" / "b1"))


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> tuple[Path, Path]:
    """`sh1`: a run on a folder of two shards (part0/, part1/) of five samples each."""
    base = tmp_path_factory.mktemp("sharded")
    for part, letter in (("part0", "a"), ("part1", "b")):
        (base / "src" / part).mkdir(parents=True)
        for i in range(5):
            (base / "src" / part / f"00{i}.txt").write_text(f"{letter}{i}\n")
    tracker = ProvenanceTracker(base / "runs", OFF, run_id="sh1")
    assert tracker.track_data(str(base / "src"), engine="local") == {"train_samples": 10, "test_samples": 0}
    torch.manual_seed(0)
    tracker.track_model(torch.nn.Linear(2, 2))
    tracker.store_merkle_on_blockchain_before_training({"lr": 0.1})
    tracker.store_merkle_on_blockchain_after_training({"accuracy": 0.1})
    tracker.close()
    return tracker.run_dir, base / "src"


def spot(run_dir: Path, k: str) -> tuple[int, dict]:
    done = cli("verify", str(run_dir), "--spot-check", k, "--seed", "1", "--json")
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    return done.returncode, next(c for c in report["checks"] if "spot check" in c["name"])


# ---------------------------------------------------------------- 1. a spot check misses added data


@pytest.mark.parametrize("added", ["part2/000.txt", "part0/005.txt"])
def test_1_spot_check_fails_on_an_added_shard_or_sample(sharded, added):
    run_dir, source = sharded
    (source / added).parent.mkdir(exist_ok=True)
    (source / added).write_text("added\n")
    try:
        code, check = spot(run_dir, "10")
    finally:
        (source / added).unlink()
        if not any((source / added).parent.iterdir()):
            (source / added).parent.rmdir()
    assert code == 1 and not check["ok"]
    assert check["detail"].startswith("the source's shards differ from the committed ones before any draw: ")
    assert ("shard part2 added" if added.startswith("part2") else "shard part0: 6 samples, 5 committed") in check["detail"]
    assert spot(run_dir, "10")[1]["ok"]  # the honest folder's draws still pass (the run is INCOMPLETE: not anchored)


# ---------------------------------------------------------------- 7. atomic writes clobber what is there


def test_7_dump_refuses_a_device_a_fifo_and_a_symlink_and_leaves_them_alone(base_run, tmp_path):
    targets = {}
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    targets["a FIFO"] = fifo
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    (tmp_path / "link").symlink_to(outside)
    targets["a symlink"] = tmp_path / "link"
    if os.geteuid() == 0:  # /dev/full itself, as the issue ran it, without risking the real node
        device = tmp_path / "full"
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        targets["a character device"] = device
    for kind, target in targets.items():
        before = os.lstat(target)
        done = cli("tree", str(base_run), "--stage", "pre", "--dump", str(target))
        assert done.returncode == 2, (kind, done.stderr)
        assert one_line(done) == f"error: {target}: expected a regular file or nothing to write to, found {kind} (not replaced)"
        after = os.lstat(target)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert outside.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left behind


# ---------------------------------------------------------------- 8. a foreign SQLite file at the outbox path


def test_8_status_refuses_a_foreign_database_and_creates_nothing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    db = sqlite3.connect(home / "outbox.sqlite")
    db.execute("CREATE TABLE foo (x)")
    db.commit()
    db.close()
    before = (home / "outbox.sqlite").read_bytes()
    done = cli("status", env={**os.environ, "PROVENANCE_HOME": str(home)})
    assert done.returncode == 2
    assert one_line(done) == (f"error: outbox {home / 'outbox.sqlite'}: expected a provenance outbox, found an SQLite "
                              "database with other tables (foo): point PROVENANCE_HOME elsewhere")
    assert (home / "outbox.sqlite").read_bytes() == before
    db = sqlite3.connect(home / "outbox.sqlite")
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["foo"]
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    # a read-only command with no outbox yet creates none
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    done = cli("status", env={**os.environ, "PROVENANCE_HOME": str(fresh)})
    assert done.returncode == 0 and "outbox: empty" in done.stdout
    assert not (fresh / "outbox.sqlite").exists()


# ---------------------------------------------------------------- 10. the run lock leaks into forked children


def test_10_a_child_forked_while_the_lock_is_held_does_not_keep_it(tmp_path):
    fd = runlock.hold(tmp_path / "down", "down")
    child = os.fork()
    if child == 0:  # a child forked by some thread between open and exec, still running
        time.sleep(5)
        os._exit(0)
    try:
        runlock.release(fd)
        code = ("from pathlib import Path; from provenance.record import runlock; "
                f"runlock.release(runlock.hold(Path({str(tmp_path / 'down')!r}), 'down'))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert done.returncode == 0, done.stderr
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)
    # still one holder at a time, in this process too
    fd = runlock.hold(tmp_path / "down", "down")
    try:
        with pytest.raises(Exception, match="held by another training"):
            runlock.hold(tmp_path / "down", "down")
    finally:
        runlock.release(fd)


# ---------------------------------------------------------------- 11-13. what a run folder holds


def test_11_a_checkpoint_linked_to_dev_zero_is_refused_without_reading_it(copy):
    (copy / "model.safetensors").unlink()
    (copy / "model.safetensors").symlink_to("/dev/zero")
    done = subprocess.run([sys.executable, "-c", _LIMITED.format(args=["verify", str(copy)])],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 1
    assert (f"FAILED  post model.file: cannot re-hash 1 leaves: model file {copy / 'model.safetensors'} (a symlink): "
            f"expected a file inside {copy}, found a path that leads out of it") in done.stdout


# `verify` with its address space capped at what it uses now + 1 GiB: a read of /dev/zero dies of it
_LIMITED = """
import resource, sys
from provenance.cli import main
used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + (1 << 30), resource.RLIM_INFINITY))
sys.exit(main({args!r}, prog_name='provenance'))
"""


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "proof", "--config"])
def test_12_a_fifo_is_refused_not_waited_on(copy, tmp_path, name):
    fifo = copy / name if name.endswith((".json", ".safetensors")) else tmp_path / "fifo.json"
    if fifo.exists():
        fifo.unlink()
    os.mkfifo(fifo)
    args = {"proof": ["check-proof", str(fifo), "--offline"], "--config": ["verify", str(copy), "--config", str(fifo)]}
    done = subprocess.run([sys.executable, "-m", "provenance.cli", *args.get(name, ["verify", str(copy)])],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    if name in args:
        assert done.returncode == 2
        what = "proof file" if name == "proof" else "config:"
        assert one_line(done) == f"error: {what} {fifo}: expected a regular file, found a FIFO"
    else:
        assert done.returncode == 1
        assert f"{fifo}: expected a regular file, found a FIFO" in done.stdout


@pytest.mark.parametrize("where", ["record.json", "proof", "config"])
def test_13_deeply_nested_json_is_one_line_and_runs_lists_the_rest(copy, tmp_path, where):
    nested = "[" * 100_000
    if where == "record.json":
        (copy / "record.json").write_text(nested)
        done = cli("verify", str(copy))
        assert done.returncode == 2
        assert one_line(done) == (f"error: provenance record {copy / 'record.json'}: expected JSON nested at most 64 deep, "
                                  "found 100000 levels")
        shutil.copytree(copy.parent / "b1", copy.parent / "b2")
        (copy.parent / "b2" / "record.json").unlink()
        listing = cli("runs", "--base-dir", str(copy.parent))
        assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
        assert f"error: record {copy / 'record.json'}: expected JSON nested at most 64 deep" in listing.stdout
        return
    path = tmp_path / "nested.json"
    path.write_text(nested)
    done = cli("check-proof", str(path), "--offline") if where == "proof" else cli("verify", str(copy), "--config", str(path))
    assert done.returncode == 2
    what = "proof file" if where == "proof" else "config:"
    assert one_line(done) == f"error: {what} {path}: expected JSON nested at most 64 deep, found 100000 levels"


# ---------------------------------------------------------------- 14. a bogus backend variable


@pytest.mark.parametrize("variable", ["PROVENANCE_MERKLE_BACKEND", "PROVENANCE_BLAKE3_BACKEND"])
def test_14_a_bogus_backend_is_one_line_and_exit_2(base_run, variable):
    done = cli("tree", str(base_run), env={**os.environ, variable: "bogus"})
    assert done.returncode == 2
    assert one_line(done) == f"error: {variable}: expected 'native', 'python' or unset, found 'bogus'"


# ---------------------------------------------------------------- 15. a spot check of a trillion samples


def test_15_spot_check_k_is_capped_at_the_sample_count(sharded):
    run_dir, _ = sharded
    started = time.monotonic()
    _, check = spot(run_dir, "1000000000000")
    assert check["ok"] and time.monotonic() - started < 60
    assert check["detail"].startswith("K capped at the sample count 10: each of the 10 samples checked once, so none changed "
                                      "can be missed")


# ---------------------------------------------------------------- 18. train prints FAILED for INCOMPLETE


def test_18_train_prints_the_verdict_incomplete_not_failed(tmp_path):
    config = tmp_path / "off.json"
    config.write_text(json.dumps(OFF))
    done = cli("train", "--epochs", "1", "--run-id", "inc", "--base-dir", str(tmp_path / "runs"), "--config", str(config))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"verification: INCOMPLETE; report {tmp_path / 'runs' / 'inc' / 'report.json'}" in done.stdout
    assert "verification: FAILED" not in done.stdout


# ---------------------------------------------------------------- 19. messages that contradict themselves


def test_19_messages_say_what_was_expected_and_what_was_found(copy, tmp_path):
    record = json.loads((copy / "record.json").read_text())
    record["stages"][0]["leaf_count"] = str(record["stages"][0]["leaf_count"])
    (copy / "record.json").write_text(json.dumps(record))
    done = cli("verify", str(copy))
    assert done.returncode == 2
    assert one_line(done) == "error: record stage pre: expected leaf_count to be an integer, found str"
    # the run's one config key renamed in config.json: one leaf, two differences (removed, added)
    record["stages"][0]["leaf_count"] = int(record["stages"][0]["leaf_count"])
    (copy / "record.json").write_text(json.dumps(record))
    (copy / "config.json").write_text(json.dumps({"rate": 0.1}))
    done = cli("verify", str(copy))
    assert "2 of 1 leaves differ" not in done.stdout
    assert "pre config: 1 leaves recorded, 1 re-hashed, 2 differences: " in done.stdout
    config = tmp_path / "off.json"
    config.write_text(json.dumps(OFF))
    done = cli("train", "--epochs", "1", "--learning-rate", "inf", "--base-dir", str(tmp_path / "runs"), "--config", str(config))
    assert done.returncode == 2
    line = one_line(done)
    assert line.startswith("error: config:learning_rate: expected a finite number or a value RFC 8785 canonical JSON can "
                           "encode, found one it cannot")
    assert "found canonical JSON" not in line


# ---------------------------------------------------------------- 20. report.md and Markdown in record values


def test_20_report_md_escapes_links_and_emphasis_from_the_record(copy):
    record = json.loads((copy / "record.json").read_text())
    record["code"]["git"]["branch"] = "[x](javascript:alert(1)) **bold**"
    (copy / "record.json").write_text(json.dumps(record))
    done = cli("report", str(copy))
    assert "Traceback" not in done.stderr, done.stderr
    md = (copy / "report.md").read_text()
    assert "[x](javascript:" not in md and "**bold**" not in md
    assert "on \\[x\\](javascript:alert(1)) \\*\\*bold\\*\\*" in md


# ---------------------------------------------------------------- 2. a report states uncovered fields as fact


def test_2_report_shows_the_sample_counts_the_trees_commit_to_not_the_edited_artifacts(copy):
    record = json.loads((copy / "record.json").read_text())
    record["artifacts"]["dataset"] |= {"train_samples": 1000000, "test_samples": 250000}
    (copy / "record.json").write_text(json.dumps(record))
    done = cli("report", str(copy))
    assert "Traceback" not in done.stderr, done.stderr
    md = (copy / "report.md").read_text()
    assert "1000000 train, 250000 test samples" not in md
    assert ("custom: 20 train, 0 test samples in the anchored trees (record.json's artifacts claim 1000000 train, "
            "250000 test: not covered by any anchor)") in md
    assert json.loads((copy / "report.json").read_text())["dataset"]["unverified_train_samples"] == 1000000


# ---------------------------------------------------------------- readers added after round three


def test_a_record_naming_a_device_or_fifo_as_its_data_file_or_a_fifo_as_a_state_file_is_refused(tmp_path):
    """A record names its data file (issue 21's descriptors) and its replay state files (issue 25's
    audit): an attacker's record may name /dev/zero (memory) or a FIFO (a hang for ever). Each is
    refused in one line; an alarm turns a hang into a failure instead of a stuck suite."""
    import signal

    from provenance.digests import datasets, train_state
    from provenance.errors import FormatError

    def hung(signum, frame):
        raise TimeoutError("a reader waited on a FIFO or read a device for 20 s")

    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        for path, found in (("/dev/zero", "a character device"), (str(fifo), "a FIFO")):
            with pytest.raises(FormatError) as info:
                datasets.load({"source": "csv", "path": path, "label_column": "label"})
            assert str(info.value) == f"dataset.path {path}: expected a regular file, found {found}"
        (tmp_path / "audit").mkdir()
        os.mkfifo(tmp_path / "audit" / "e001-s000000.safetensors")
        with pytest.raises(FormatError, match="expected a regular file"):
            train_state.read_bounded(tmp_path, "audit/e001-s000000.safetensors", 100)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
