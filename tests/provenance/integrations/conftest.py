"""Helpers for the framework integration tests: nothing is downloaded, and a flipped byte in a
saved checkpoint is traced to the tensor that holds it."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

OFFLINE = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """The Hugging Face libraries never reach a hub, here and in the `provenance` processes started."""
    for name in OFFLINE:
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


def flip_tensor_byte(path: Path) -> str:
    """Flip the last byte of the last tensor's data in a safetensors file; return that tensor's name."""
    data = bytearray(path.read_bytes())
    header_len = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + header_len])
    tensors = {name: spec for name, spec in header.items() if name != "__metadata__"}
    name, spec = max(tensors.items(), key=lambda item: item[1]["data_offsets"][1])
    position = 8 + header_len + spec["data_offsets"][1] - 1
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    return name
