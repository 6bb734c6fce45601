"""`provenance export | sign-model | verify-export`: a run in the supply chain's formats."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import base_dir_option, config_option, emit, json_option, load_settings_for, resolve_run, submitter_option

_EXITS = {"PASSED": 0, "FAILED": 1, "INCOMPLETE": 1, "CANNOT CHECK": 3}


@click.command("export")
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(["slsa", "cyclonedx"]), required=True,
              help="slsa: an in-toto Statement v1 with a SLSA Provenance v1 predicate; cyclonedx: a CycloneDX 1.6 ML-BOM.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the export here (atomically) instead of printing it.")
@click.option("--sign-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="With --format slsa: wrap the statement in a DSSE envelope signed with this PEM private key "
                   "(Ed25519 signs deterministically).")
@base_dir_option
def export(run: str, fmt: str, output: Path | None, sign_key: Path | None, base_dir: Path) -> None:
    """Export RUN as a SLSA provenance statement or a CycloneDX ML-BOM: the same run gives the same bytes.

    The model files are re-hashed and must equal their anchored leaves; only confirmed anchors are
    claimed. Check an export later with `provenance verify-export FILE RUN`."""
    from ..exports import export_bytes, write_export

    data = export_bytes(resolve_run(run, base_dir), fmt, sign_key)
    if output is None:
        click.echo(data.decode(), nl=False)
    else:
        write_export(data, output)
        click.echo(f"wrote {output} ({fmt}, {len(data)} bytes)", err=True)


@click.command("sign-model")
@click.argument("run")
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Elliptic-curve private key (PEM, unencrypted) for model_signing's key signer.")
@base_dir_option
def sign_model(run: str, key: Path, base_dir: Path) -> None:
    """Sign RUN's final model with OpenSSF model signing (offline, key-based) and write model.sig next to it.

    Only a model whose bytes equal its anchored leaf is signed. Check the signature with
    `model_signing verify key MODEL --signature model.sig --public_key PUB.pem`; `provenance verify`
    checks that the signed digests are the run's."""
    from ..exports.model_signature import sign_model as sign

    bundle = sign(resolve_run(run, base_dir), key)
    click.echo(str(bundle))


@click.command("verify-export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("run", required=False)
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="PEM public key that must have signed a DSSE envelope.")
@submitter_option
@base_dir_option
@config_option
@json_option
def verify_export(file: Path, run: str | None, public_key: Path | None, submitters: tuple[str, ...], base_dir: Path,
                  config_path: Path | None, as_json: bool) -> None:
    """Check every digest and anchor an exported statement or BOM claims, against RUN and its anchors (without RUN: the anchors on their networks).

    Exits 0 PASSED, 1 FAILED (naming each changed digest, removed or added anchor) or INCOMPLETE,
    3 CANNOT CHECK (a network down, or digests only RUN can confirm)."""
    from ..exports.check import verify_export as check

    settings = load_settings_for(config_path)
    report = check(file, resolve_run(run, base_dir) if run else None, public_key=public_key, config=settings,
                   submitters=submitters)

    def text() -> str:
        marks = {"ok": "ok    ", "failed": "FAILED", "missing": "MISSING", "cannot check": "CANNOT CHECK"}
        lines = [f"{marks[c.status]}  {c.name}: {c.detail}" for c in report.checks]
        lines.append(f"{file} ({report.kind}): {report.verdict}")
        return "\n".join(lines)

    emit(as_json, report.to_json(), text)
    if report.verdict != "PASSED":
        sys.exit(_EXITS[report.verdict])
