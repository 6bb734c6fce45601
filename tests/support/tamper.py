"""Tampering with a run's files the way an attacker would, one byte at a time."""

from __future__ import annotations

import json
import struct
from pathlib import Path


def flip_tensor_byte(path: Path) -> str:
    """Flip the last byte of the last tensor's data in a safetensors file; return that tensor's name."""
    data = bytearray(path.read_bytes())
    header_len = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + header_len])
    tensors = {name: spec for name, spec in header.items() if name != "__metadata__"}
    name, spec = max(tensors.items(), key=lambda item: item[1]["data_offsets"][1])
    data[8 + header_len + spec["data_offsets"][1] - 1] ^= 0x01
    path.write_bytes(bytes(data))
    return name
