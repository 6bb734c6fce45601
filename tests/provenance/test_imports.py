"""What a command imports: `provenance --help`, `status` and verification never load torch or
scikit-learn (a verifier's start-up would be mostly their import), and the lazy command table
says what each command's own help says."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys

import click
import pytest

from provenance.cli import COMMANDS, main
from tests.support.cli import ROOT

HEAVY = ("torch", "sklearn")

# Runs one `provenance` command in a fresh interpreter, then prints which heavy modules it loaded.
PROBE = """
import json, sys
from provenance.cli import main
try:
    main(sys.argv[1:], prog_name="provenance", standalone_mode=False)
finally:
    print("LOADED=" + json.dumps(sorted(m for m in {heavy} if m in sys.modules)), file=sys.stderr)
""".format(heavy=HEAVY)


def loaded_by(*args: str) -> tuple[list[str], subprocess.CompletedProcess]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in done.stderr.splitlines() if line.startswith("LOADED=")]
    assert lines, done.stderr[-2000:]
    return json.loads(lines[-1].removeprefix("LOADED=")), done


def test_help_lists_every_command_and_imports_none_of_them():
    done = subprocess.run([sys.executable, "-c", "import sys; from provenance.cli import main\n"
                           "try: main(['--help'], prog_name='provenance')\n"
                           "except SystemExit: pass\n"
                           "print(sorted(m for m in sys.modules if m.startswith('provenance.cli.') or m in ('torch', 'sklearn', 'web3')))"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    for name in COMMANDS:
        assert f"\n  {name} " in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "['provenance.cli.exits']"  # no command module, no web3


def test_status_imports_neither_torch_nor_scikit_learn():
    loaded, done = loaded_by("status", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout[: done.stdout.rindex("}") + 1])["blockchain_enabled"] in (True, False)
    assert loaded == []


def test_verify_and_status_of_a_digits_run_import_neither_torch_nor_scikit_learn(trained_run):
    loaded, done = loaded_by("verify", str(trained_run.run_dir), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["verdict"] == "PASSED"  # a real verification ran: data and weights re-hashed
    assert loaded == []
    loaded, done = loaded_by("status", str(trained_run.run_dir))
    assert done.returncode == 0 and "post" in done.stdout, done.stderr[-2000:]
    assert loaded == []


def test_the_numpy_readers_give_what_scikit_learn_and_torch_give(trained_run):
    """The digits read without scikit-learn are its `load_digits`, bit for bit, and a model file
    read through numpy hashes to the leaves of the same file read by torch."""
    import numpy as np
    from safetensors.torch import load as load_torch
    from sklearn.datasets import load_digits

    from provenance.digests import datasets, models

    digits = load_digits()
    ours = datasets.load_digits_arrays()
    assert np.array_equal(ours[:, :-1], digits.data) and np.array_equal(ours[:, -1].astype(int), digits.target)
    path = trained_run.run_dir / "model.safetensors"
    arrays = models.load_weights(path)
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    assert sorted(models.weight_leaves(arrays)) == sorted(models.weight_leaves(load_torch(path.read_bytes())))


def test_a_bfloat16_model_file_is_read_through_torch(tmp_path):
    import torch

    from provenance.digests import models

    state = {"w": torch.arange(6, dtype=torch.bfloat16).reshape(2, 3), "b": torch.ones(2)}
    models.save_weights(state, tmp_path / "m.safetensors")
    loaded = models.load_weights(tmp_path / "m.safetensors")
    assert sorted(models.weight_leaves(loaded)) == sorted(models.weight_leaves(state))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_lazy_table_matches_each_commands_own_help(name):
    module, attribute, summary = COMMANDS[name]
    command = getattr(importlib.import_module(f"provenance.cli.{module}"), attribute)
    assert isinstance(command, click.Command)
    assert summary == " ".join(inspect.cleandoc(command.help or "").split("\n\n")[0].split())
    ctx = click.Context(main)
    assert main.get_command(ctx, name) is command
    for limit in (45, 80):
        assert click.utils.make_default_short_help(summary, limit) == command.get_short_help_str(limit)
