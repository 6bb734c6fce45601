"""The exports of a trained run, each checked by an independent library or tool: in-toto-attestation
(Statement v1 and the SLSA Provenance v1 protobuf), cyclonedx-python-lib's CycloneDX 1.6 JSON
schema, securesystemslib's DSSE verifier and OpenSSF's own `model_signing` CLI; and
`verify-export` on edited exports."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from provenance.cli import main
from provenance.exports import document, export_bytes
from provenance.exports.slsa import BUILD_TYPE, MERKLE_ROOT, PREDICATE_TYPE
from provenance.record import Record


def cli(*args: str):
    return CliRunner(mix_stderr=False).invoke(main, list(args), catch_exceptions=False)


def write_keys(folder: Path, private_key) -> tuple[Path, Path]:
    private, public = folder / "key.pem", folder / "key.pub"
    private.write_bytes(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    public.write_bytes(private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def slsa_v1_validate(predicate: dict) -> None:
    """SLSA Provenance v1 as in-toto-attestation checks it. The PyPI release (0.9.3) ships the
    predicate's protobuf but not its validator, so this is the Go binding's `Provenance.Validate`
    (go/predicates/provenance/v1/provenance.go) over the strictly parsed protobuf: unknown fields,
    wrong types and malformed timestamps are refused by the parse itself."""
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor

    pb = json_format.ParseDict(predicate, provenance_pb2.Provenance())
    assert pb.HasField("build_definition"), "BuildDefinition required"
    assert pb.build_definition.build_type, "BuildDefinition.BuildType required"
    assert pb.build_definition.HasField("external_parameters"), "BuildDefinition.ExternalParameters required"
    assert pb.HasField("run_details"), "RunDetails required"
    assert pb.run_details.HasField("builder") and pb.run_details.builder.id, "Builder.Id required"
    for rd in [*pb.build_definition.resolved_dependencies, *pb.run_details.byproducts, *pb.run_details.builder.builder_dependencies]:
        ResourceDescriptor.copy_from_pb(rd).validate()


def test_slsa_statement_is_deterministic_and_valid_in_toto_slsa_v1(trained_run):
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    run = trained_run.run_dir
    data = export_bytes(run, "slsa")
    assert export_bytes(run, "slsa") == data  # same run, same bytes
    statement = json.loads(data)
    Statement.copy_from_pb(json_format.ParseDict(statement, statement_pb2.Statement())).validate()
    assert statement["predicateType"] == PREDICATE_TYPE
    slsa_v1_validate(statement["predicate"])

    record = Record.load(run / "record.json")
    post_file = next(leaf for leaf in record.stage("post").leaves if leaf.kind == "model.file")
    subject = statement["subject"][0]
    assert subject["name"] == post_file.name
    assert subject["digest"] == {"sha256": hashlib.sha256((run / post_file.name).read_bytes()).hexdigest(),
                                 "blake3": post_file.digest.hex()}
    build = statement["predicate"]["buildDefinition"]
    assert build["buildType"] == BUILD_TYPE and build["externalParameters"]["config"] == record.config
    deps = {d["name"]: d for d in build["resolvedDependencies"]}
    assert deps[f"code@{record.code['git']['commit']}"]["digest"] == {"gitCommit": record.code["git"]["commit"]}
    assert deps["dataset/sklearn-digits/train"]["annotations"]["count"] == record.artifacts["dataset"]["train_samples"]
    byproducts = {b["name"]: b for b in statement["predicate"]["runDetails"]["byproducts"]}
    assert byproducts["root/post"]["digest"] == {MERKLE_ROOT: record.stage("post").root.hex()}
    for entry in record.receipts:  # every anchor, with its transaction
        claimed = byproducts[f"anchor/{entry.stage}/{entry.receipt.network}"]
        assert claimed["annotations"]["tx_hash"] == entry.receipt.location["tx_hash"]


def test_a_broken_predicate_is_refused_by_the_validator(trained_run):
    predicate = document(trained_run.run_dir, "slsa")["predicate"]
    del predicate["buildDefinition"]["buildType"]
    with pytest.raises(AssertionError, match="BuildType"):
        slsa_v1_validate(predicate)


def test_cyclonedx_bom_is_deterministic_and_valid_cyclonedx_1_6(trained_run):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    data = export_bytes(trained_run.run_dir, "cyclonedx")
    assert export_bytes(trained_run.run_dir, "cyclonedx") == data
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(data.decode()) is None
    bom = json.loads(data)
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and model["modelCard"]["modelParameters"]["datasets"]
    assert {c["type"] for c in bom["components"]} >= {"data", "application", "platform"}
    bom["metadata"]["component"]["type"] = "trained-thing"  # the validator is not a rubber stamp
    assert validator.validate_str(json.dumps(bom)) is not None


def test_signed_envelope_verifies_with_securesystemslib_and_with_verify_export(trained_run, tmp_path):
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    private, public = write_keys(tmp_path, ed25519.Ed25519PrivateKey.generate())
    out = tmp_path / "statement.dsse.json"
    assert cli("export", str(trained_run.run_dir), "--format", "slsa", "--sign-key", str(private), "-o", str(out)).exit_code == 0
    envelope = json.loads(out.read_bytes())
    key = SSlibKey.from_crypto(serialization.load_pem_public_key(public.read_bytes()))
    assert key.keyid in Envelope.from_dict(envelope).verify([key], 1)
    assert export_bytes(trained_run.run_dir, "slsa", private) == out.read_bytes()  # Ed25519: same bytes again
    assert cli("verify-export", str(out), str(trained_run.run_dir), "--public-key", str(public)).exit_code == 0
    (tmp_path / "other").mkdir()
    _, other = write_keys(tmp_path / "other", ed25519.Ed25519PrivateKey.generate())
    result = cli("verify-export", str(out), str(trained_run.run_dir), "--public-key", str(other))
    assert result.exit_code == 1 and "FAILED  envelope signature" in result.stdout


def test_verify_export_names_a_changed_digest_and_a_removed_anchor(trained_run, tmp_path):
    run = str(trained_run.run_dir)
    good = tmp_path / "statement.json"
    assert cli("export", run, "--format", "slsa", "-o", str(good)).exit_code == 0
    result = cli("verify-export", str(good), run)
    assert result.exit_code == 0 and result.stdout.rstrip().endswith("PASSED"), result.stdout

    statement = json.loads(good.read_bytes())
    statement["subject"][0]["digest"]["sha256"] = "00" * 32
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(statement))
    result = cli("verify-export", str(changed), run)
    assert result.exit_code == 1
    assert f"FAILED  claim subject[{statement['subject'][0]['name']}].digest.sha256" in result.stdout

    statement = json.loads(good.read_bytes())
    byproducts = statement["predicate"]["runDetails"]["byproducts"]
    statement["predicate"]["runDetails"]["byproducts"] = [b for b in byproducts if b["name"] != "anchor/post/ethereum"]
    removed = tmp_path / "removed.json"
    removed.write_text(json.dumps(statement))
    result = cli("verify-export", str(removed), run, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    assert report["verdict"] == "FAILED" and [c["name"] for c in failed] == [
        "claim predicate.runDetails.byproducts[anchor/post/ethereum]"]
    assert "the export lacks it" in failed[0]["detail"]


def test_verify_export_without_the_run_checks_the_claimed_anchors_on_the_chain(trained_run, tmp_path):
    bom = document(trained_run.run_dir, "cyclonedx")
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(bom))
    result = cli("verify-export", str(path), "--json")
    report = json.loads(result.stdout)
    anchors = [c for c in report["checks"] if c["name"].startswith("anchor ")]
    assert result.exit_code == 3 and report["verdict"] == "CANNOT CHECK"  # the digests need the run
    assert anchors and all(c["status"] == "ok" for c in anchors)
    result = cli("verify-export", str(path), "--submitter", "0x" + "11" * 20)  # the trust policy applies here too
    assert result.exit_code == 1 and "FAILED  submitter: anchored by" in result.stdout, result.stdout

    statement = document(trained_run.run_dir, "slsa")
    pre = next(b for b in statement["predicate"]["runDetails"]["byproducts"] if b["name"] == "anchor/pre/ethereum")
    post = next(b for b in statement["predicate"]["runDetails"]["byproducts"] if b["name"] == "anchor/post/ethereum")
    pre["annotations"]["tx_hash"] = post["annotations"]["tx_hash"]  # another anchor's transaction
    path.write_text(json.dumps(statement))
    result = cli("verify-export", str(path))
    assert result.exit_code == 1 and "FAILED  anchor pre/ethereum" in result.stdout, result.stdout


def test_verify_export_of_a_bom_names_a_changed_model_hash(trained_run, tmp_path):
    bom = document(trained_run.run_dir, "cyclonedx")
    bom["metadata"]["component"]["hashes"][0]["content"] = "11" * 32
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(bom))
    result = cli("verify-export", str(path), str(trained_run.run_dir))
    assert result.exit_code == 1 and "FAILED  claim metadata.component.hashes[SHA-256].content" in result.stdout


def test_model_signing_cli_accepts_the_signed_model_and_refuses_a_flipped_byte(run_copy, tmp_path):
    from provenance.verification.verify import verify_run

    private, public = write_keys(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    result = cli("sign-model", str(run_copy), "--key", str(private))
    assert result.exit_code == 0, result.stderr
    bundle = Path(result.stdout.strip())
    model = run_copy / "model.safetensors"
    assert bundle == run_copy / "model.sig"
    tool = [str(Path(sys.executable).parent / "model_signing"), "verify", "key", str(model), "--signature", str(bundle),
            "--public_key", str(public)]
    assert subprocess.run(tool, check=False, capture_output=True, text=True).returncode == 0

    report = verify_run(run_copy)
    signature = [c for c in report.checks if c.name == "model signature"]
    assert report.verdict == "PASSED" and signature and signature[0].ok and "model.safetensors" in signature[0].detail

    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    assert subprocess.run(tool, check=False, capture_output=True, text=True).returncode != 0
    signature = [c for c in verify_run(run_copy).checks if c.name == "model signature"]
    assert not signature[0].ok and "no longer hashes to its anchored leaf" in signature[0].detail


def test_a_model_signature_for_other_bytes_fails_verify(run_copy, tmp_path):
    """A bundle from another model (a valid signature, over other digests) placed next to the run's."""
    from provenance.verification.verify import verify_run

    private, _ = write_keys(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    assert cli("sign-model", str(run_copy), "--key", str(private)).exit_code == 0
    bundle = json.loads((run_copy / "model.sig").read_bytes())
    import base64

    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload["predicate"]["resources"][0]["digest"] = "ab" * 32
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    (run_copy / "model.sig").write_text(json.dumps(bundle))
    report = verify_run(run_copy)
    signature = [c for c in report.checks if c.name == "model signature"]
    assert report.verdict == "FAILED" and "signed sha256 " + "ab" * 32 in signature[0].detail


def test_an_export_refuses_a_private_key_in_the_record_without_quoting_it(run_copy):
    key = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"  # anvil's dev account #3: a public test key
    record = json.loads((run_copy / "record.json").read_text())
    record["config"]["note"] = f"deploy with {key}"
    (run_copy / "record.json").write_text(json.dumps(record))
    result = cli("export", str(run_copy), "--format", "cyclonedx", "-o", str(run_copy / "bom.json"))
    assert result.exit_code == 2 and "config.note" in result.stderr and "private key" in result.stderr
    assert key[2:] not in result.stderr + result.stdout and not (run_copy / "bom.json").exists()


def test_bad_input_is_one_line(trained_run, tmp_path):
    pem = tmp_path / "not-a-key.pem"
    pem.write_text("hello\n")
    for args in (["export", str(trained_run.run_dir), "--format", "cyclonedx", "--sign-key", str(pem)],
                 ["export", str(trained_run.run_dir), "--format", "slsa", "--sign-key", str(pem)],
                 ["sign-model", str(trained_run.run_dir), "--key", str(pem)],
                 ["verify-export", str(pem), str(trained_run.run_dir)]):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")


def test_a_blake3_bundle_is_held_against_the_leaves_as_they_are(run_copy, tmp_path):
    """A bundle signed with model_signing's blake3 hashing (their CLI's verify cannot check it, ours
    compares its digests with the anchored leaves directly)."""
    from model_signing import hashing, signing

    from provenance.verification.model_signature import check_signature

    private, _ = write_keys(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    config = signing.Config().use_elliptic_key_signer(private_key=private)
    config.set_hashing_config(hashing.Config().use_file_serialization(hashing_algorithm="blake3"))
    config.sign(run_copy / "model.safetensors", run_copy / "model.sig")
    record = Record.load(run_copy / "record.json")
    ok, detail = check_signature(record, run_copy)
    assert ok and "(blake3)" in detail
    leaf = next(leaf for leaf in record.stage("post").leaves if leaf.kind == "model.file")
    edited = json.loads((run_copy / "record.json").read_text())  # a leaf edited to other bytes no longer matches
    for entry in next(s for s in edited["stages"] if s["name"] == "post")["leaves"]:
        if entry[0] == "model.file":
            entry[2] = "0x" + "00" * 32
    (run_copy / "record.json").write_text(json.dumps(edited))
    ok, detail = check_signature(Record.load(run_copy / "record.json"), run_copy)
    assert not ok and f"signed blake3 {leaf.digest.hex()}" in detail


def test_a_fifo_or_deep_json_where_a_bundle_or_export_is_read_is_refused_not_waited_on(run_copy, tmp_path):
    """The run folder's model.sig and verify-export's FILE are untrusted: a FIFO is refused (no
    writer would ever come: the command would wait for ever), deep JSON is one line, not a
    RecursionError."""
    import os

    os.mkfifo(run_copy / "model.sig")
    done = subprocess.run([sys.executable, "-m", "provenance.cli", "verify", str(run_copy), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    signature = [c for c in json.loads(done.stdout)["checks"] if c["name"] == "model signature"]
    assert not signature[0]["ok"] and "expected a regular file" in signature[0]["detail"], signature

    fifo = tmp_path / "export.json"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "provenance.cli", "verify-export", str(fifo), str(run_copy)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "expected a regular file" in done.stderr, done.stderr

    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000)
    result = cli("verify-export", str(deep), str(run_copy))
    assert result.exit_code == 2 and "nested at most 64 deep" in result.stderr and result.stderr.count("\n") == 1, result.stderr
