"""`python -m provenance.cli` runs the `provenance` command."""

from . import run

run()
