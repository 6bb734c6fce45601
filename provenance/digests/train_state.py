"""What a replay of training needs, as files in the run folder and as leaves: training-state
checkpoints and per-epoch files (the proof-of-training audit, `provenance.training.audit`).

Two kinds of file, both safetensors (`provenance-train-state/v1`), under `audit/` in the run folder:

- a state file `audit/eEEE-sSSSSSS.safetensors`: the training state after step S of epoch E
  (S = 0 only for the start of training): `model/<name>` the weights, `optim/<i>/<key>` every
  optimizer state tensor (parameter i of the optimizer's order), `rng/torch|numpy|python` the RNG
  states; its metadata the optimizer's param groups (the learning-rate schedule's position) and
  the rest of the numpy RNG state;
- an epoch file `audit/epoch-EEE.safetensors`: `order` the epoch's sample indices in the order
  they were used (batch after batch, int64) and `rng/...` the RNG states at the epoch's start.

Leaves (kinds in `provenance.record.kinds`): one `train.state` (state file) or `train.order`
(epoch file) leaf per file, blake3 of its bytes; one `optim.state` leaf per optimizer tensor and
one `train.rng` leaf per RNG state, named `<file stem>/<tensor>`, so a single tensor can be proven.

Reading is for an attacker-controlled folder: names must match the patterns above (no path
leaves `audit/`), reads are bounded by the size the anchored leaf states, nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import random
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..merkle.kinds import OPTIM_STATE as OPTIM_KIND, TRAIN_ORDER as ORDER_KIND, TRAIN_REPLAY as REPLAY_KIND, TRAIN_RNG as RNG_KIND, TRAIN_STATE as STATE_KIND  # noqa: F401 - every kind read as train_state.X_KIND
from ..errors import FormatError
from ..files import atomic_write_bytes
from ..merkle import Leaf
from .hashing import hash_bytes, state_dict_leaves

FORMAT = "provenance-train-state/v1"
FOLDER = "audit"
MAX_FILE = 1 << 34  # 16 GiB: no state file is read beyond this, whatever a leaf claims

_STATE_NAME = re.compile(r"^audit/e(\d{3,6})-s(\d{6,9})\.safetensors$")
_EPOCH_NAME = re.compile(r"^audit/epoch-(\d{3,6})\.safetensors$")


def state_name(epoch: int, step: int) -> str:
    return f"{FOLDER}/e{epoch:03d}-s{step:06d}.safetensors"


def epoch_name(epoch: int) -> str:
    return f"{FOLDER}/epoch-{epoch:03d}.safetensors"


def parse_state_name(name: str) -> tuple[int, int]:
    """(epoch, step) of a state file's name; FormatError for any other name."""
    match = _STATE_NAME.match(name)
    if not match:
        raise FormatError(f"train.state leaf: expected a name like audit/e001-s000040.safetensors, found {name!r}")
    return int(match[1]), int(match[2])


def parse_epoch_name(name: str) -> int:
    match = _EPOCH_NAME.match(name)
    if not match:
        raise FormatError(f"train.order leaf: expected a name like audit/epoch-001.safetensors, found {name!r}")
    return int(match[1])


def stem(name: str) -> str:
    return name.rsplit("/", 1)[-1].removesuffix(".safetensors")


# ---------------------------------------------------------------- RNG states


def rng_tensors() -> tuple[dict[str, Any], dict[str, Any]]:
    """The process's torch, numpy and Python RNG states as tensors, plus what of them is not a
    tensor (numpy's position and cached Gaussian) for the metadata."""
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, words, gauss = random.getstate()
    tensors = {"rng/torch": torch.get_rng_state(), "rng/numpy": torch.from_numpy(np.asarray(keys, dtype=np.uint32).astype(np.int64)),
               "rng/python": torch.tensor(list(words), dtype=torch.int64)}
    return tensors, {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [int(version), gauss]}


def restore_rng(tensors: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
    """Set the process's RNGs to a state `rng_tensors` took (FormatError if it is malformed)."""
    import torch

    try:
        torch.set_rng_state(torch.as_tensor(tensors["rng/torch"], dtype=torch.uint8).clone())
        kind, pos, has_gauss, cached = meta["numpy"]
        keys = np.asarray(tensors["rng/numpy"], dtype=np.int64)
        if keys.shape != (624,) or keys.min() < 0 or keys.max() >= 1 << 32:
            raise ValueError("numpy keys")
        np.random.set_state((str(kind), keys.astype(np.uint32), int(pos), int(has_gauss), float(cached)))
        version, gauss = meta["python"]
        words = tuple(int(w) for w in np.asarray(tensors["rng/python"], dtype=np.int64))
        if len(words) != 625 or gauss is not None and not isinstance(gauss, float):
            raise ValueError("python words")
        random.setstate((int(version), words, gauss))
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise FormatError(f"RNG state: expected torch, numpy and Python states as written by provenance, found a malformed one ({e})") from None


# ---------------------------------------------------------------- writing


def encode(tensors: Mapping[str, Any], meta: Mapping[str, Any]) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                metadata={"format": FORMAT, "meta": json.dumps(meta, sort_keys=True, allow_nan=False)})


def state_tensors(model_state: Mapping[str, Any], optimizer: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`model/...` and `optim/<i>/<key>` tensors of a training state, and the optimizer's param
    groups (JSON values: the learning rate and the rest of the schedule's position)."""
    import torch

    tensors = {f"model/{k}": v for k, v in model_state.items()}
    saved = optimizer.state_dict()
    for index, values in saved["state"].items():
        for key, value in values.items():
            if not torch.is_tensor(value):
                value = torch.tensor(value)  # a plain number (some optimizers keep `step` so)
            tensors[f"optim/{int(index)}/{key}"] = value.detach().cpu().clone()
    groups = json.loads(json.dumps(saved["param_groups"], default=_plain))
    return tensors, groups


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    raise FormatError(f"optimizer param group: expected JSON values, found {type(value).__name__}")


def file_leaves(kind: str, name: str, data: bytes, tensors: Mapping[str, Any]) -> list[Leaf]:
    """The file's own leaf and the `optim.state` / `train.rng` leaves of its tensors."""
    prefix = stem(name)
    optim = {f"{prefix}/{k}": v for k, v in tensors.items() if k.startswith("optim/")}
    rng = {f"{prefix}/{k}": v for k, v in tensors.items() if k.startswith("rng/")}
    return [Leaf(kind, name, hash_bytes(data), len(data))] + state_dict_leaves(optim, kind=OPTIM_KIND) + state_dict_leaves(rng, kind=RNG_KIND)


def write(run_dir: Path, kind: str, name: str, tensors: Mapping[str, Any], meta: Mapping[str, Any]) -> list[Leaf]:
    data = encode(tensors, meta)
    atomic_write_bytes(run_dir / name, data)
    return file_leaves(kind, name, data, tensors)


# ---------------------------------------------------------------- reading (an attacker's folder)


def read_bounded(run_dir: Path, name: str, limit: int) -> bytes:
    """The bytes of `run_dir/name`, a regular file of at most `limit` bytes, read without
    following a symlink (the file's or `audit/`'s); FormatError otherwise (FileNotFoundError kept)."""
    folder = run_dir / FOLDER
    if folder.is_symlink():
        raise FormatError(f"{folder}: expected a folder, found a symlink")
    limit = min(limit, MAX_FILE)
    # O_NONBLOCK: a FIFO planted there would otherwise hang the open until a writer came
    fd = os.open(run_dir / name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FormatError(f"{name}: expected a regular file")
        if info.st_size > limit:
            raise FormatError(f"{name}: expected at most {limit} bytes (the anchored leaf's size), found {info.st_size}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FormatError(f"{name}: grew beyond {limit} bytes while read")
    return data


@dataclass(frozen=True)
class Loaded:
    """A state or epoch file read back: its tensors (torch) and metadata."""

    name: str
    tensors: dict[str, Any]
    meta: dict[str, Any]

    def group(self, prefix: str) -> dict[str, Any]:
        return {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}


def decode(name: str, data: bytes, as_torch: bool = True) -> Loaded:
    """The tensors and metadata of a file's bytes (safetensors: a bounded JSON header and raw
    tensors, no code); FormatError naming the file if it is not one of ours. `as_torch=False`:
    numpy arrays (verification re-hashes them without importing torch; same digests)."""
    if as_torch:
        from safetensors.torch import load
    else:
        from safetensors.numpy import load

    try:
        size = int.from_bytes(data[:8], "little")
        if len(data) < 8 or size > min(len(data) - 8, 1 << 24):
            raise ValueError("header size")
        header = json.loads(data[8:8 + size])
        meta_raw = header.get("__metadata__") or {}
        if meta_raw.get("format") != FORMAT:
            raise ValueError(f"format {meta_raw.get('format')!r}")
        meta = json.loads(meta_raw.get("meta", "{}"))
        if not isinstance(meta, dict):
            raise ValueError("metadata")
        tensors = load(data)
    except Exception as e:  # noqa: BLE001 - safetensors has its own error types; all mean "not ours"
        raise FormatError(f"{name}: expected a {FORMAT} safetensors file, found an unreadable one ({' '.join(str(e).split())[:120]})") from None
    return Loaded(name, tensors, meta)


def rehash(run_dir: Path, leaf: Leaf) -> list[Leaf]:
    """The leaves the file a `train.state` / `train.order` leaf names yields now."""
    if leaf.kind == STATE_KIND:
        parse_state_name(leaf.name)
    else:
        parse_epoch_name(leaf.name)
    try:
        data = read_bounded(run_dir, leaf.name, leaf.size)
    except FileNotFoundError:
        raise FormatError(f"{leaf.name}: file not found in the run folder") from None
    except OSError as e:
        raise FormatError(f"{leaf.name}: expected a readable regular file, found {e.strerror or e}") from None
    tensors: dict[str, Any] = {}  # unreadable: its tensor leaves come out missing, its file leaf changed
    for as_torch in (False, True):  # numpy unless a dtype needs torch (bfloat16 weights)
        try:
            tensors = decode(leaf.name, data, as_torch=as_torch).tensors
            break
        except FormatError:
            continue
    return file_leaves(leaf.kind, leaf.name, data, tensors)
