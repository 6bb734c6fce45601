"""Importing `provenance` (and its integrations package) imports no training framework."""

from __future__ import annotations

import subprocess
import sys

FRAMEWORKS = ("lightning", "pytorch_lightning", "transformers", "datasets", "mlflow", "pyarrow")


def test_no_framework_imported_until_asked_for():
    code = ("import sys, provenance, provenance.integrations, provenance.digests.hashing, provenance.verification.verify; "
            f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
