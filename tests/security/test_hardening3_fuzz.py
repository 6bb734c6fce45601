"""Fuzzing every reader of untrusted input (issue 22): record.json, proof files, config files,
outbox rows (receipts, snapshots), RPC answers. Whatever the bytes, a reader answers or raises
one `ProvenanceError` of one line: never another exception (a traceback for the user), never a
hang past the deadline, and memory bounded: the whole test runs with its address space capped
(`resource.setrlimit`) at what the process uses now plus 1 GiB.

Kept short for CI (a few seconds): few examples per reader, seeded by a real record so the
mutations reach past the first type check."""

from __future__ import annotations

import json
import resource
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.anchors.ethereum.rpc import result_of
from provenance.config import load_settings
from provenance.errors import ProvenanceError
from provenance.files import parse_json, read_json
from provenance.record import Record
from provenance.record.receipts import Receipt
from provenance.verification.nested import load_proof_file
from tests.security.test_hardening3_inputs import small_run

FUZZ = settings(max_examples=40, deadline=2000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
RAW = st.one_of(
    st.binary(max_size=200),
    st.integers(1, 200_000).map(lambda n: b"[" * n),
    st.integers(1, 200_000).map(lambda n: b'{"a":' * n),
    JSON.map(lambda v: json.dumps(v).encode()),
)


@contextmanager
def bounded_memory(extra: int = 1 << 30):
    """The soft address-space limit at what the process maps now + `extra`, restored after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (min(used + extra, hard) if hard != resource.RLIM_INFINITY else used + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def answers_or_refuses(read, *args, **kwargs) -> None:
    try:
        read(*args, **kwargs)
    except ProvenanceError as e:
        assert "\n" not in str(e), str(e)


@pytest.fixture(scope="module")
def record_json(tmp_path_factory) -> dict:
    run = small_run(tmp_path_factory.mktemp("fuzz"), "seed")
    return json.loads((run / "record.json").read_text())


def mutate(value, path: list[int], replacement):
    """`value` with the node reached by following `path` (indices into keys / items) replaced."""
    if not path or not isinstance(value, (dict, list)) or not value:
        return replacement
    if isinstance(value, dict):
        key = list(value)[path[0] % len(value)]
        return value | {key: mutate(value[key], path[1:], replacement)}
    i = path[0] % len(value)
    return value[:i] + [mutate(value[i], path[1:], replacement)] + value[i + 1:]


PATHS = st.lists(st.integers(0, 50), max_size=6)


def test_fuzz_readers_of_untrusted_input(record_json, tmp_path):
    """One test, the readers in turn (one hypothesis run each), under one memory cap."""

    @FUZZ
    @given(data=RAW)
    def raw_files(data):
        path = tmp_path / "raw.json"
        path.write_bytes(data)
        answers_or_refuses(parse_json, data, "fuzz")
        answers_or_refuses(Record.load, path)
        answers_or_refuses(load_proof_file, path)
        answers_or_refuses(load_settings, str(path))
        answers_or_refuses(read_json, path, "fuzz", within=tmp_path)
        answers_or_refuses(Record.from_snapshot, data)

    @FUZZ
    @given(where=PATHS, replacement=JSON)
    def records(where, replacement):
        mutated = mutate(record_json, where, replacement)
        path = tmp_path / "record.json"
        path.write_text(json.dumps(mutated))
        answers_or_refuses(Record.load, path)

    @FUZZ
    @given(value=JSON, where=PATHS, replacement=JSON)
    def rows_and_answers(value, where, replacement):
        receipt = {"network": "ethereum", "root": "0x" + "11" * 32, "state": "confirmed", "location": {"tx_hash": "0x" + "22" * 32},
                   "confirmations": 1, "reason": None, "updated_at": "2026-01-01T00:00:00Z"}
        answers_or_refuses(Receipt.from_json, value)
        answers_or_refuses(Receipt.from_json, mutate(receipt, where, replacement))
        answers_or_refuses(result_of, value, "http://127.0.0.1:1", "eth_call")
        proof = tmp_path / "proof.json"
        proof.write_text(json.dumps(mutate({"format": "provenance-proof/v1", "run_id": "r", "steps": [], "anchors": []}, where, value)))
        answers_or_refuses(load_proof_file, proof)
        config = tmp_path / "config.json"
        config.write_text(json.dumps(mutate({"blockchain": {"ethereum": {"network": "local"}}, "storage_options": {}}, where, value)))
        answers_or_refuses(load_settings, str(config))

    with bounded_memory():
        raw_files()
        records()
        rows_and_answers()
