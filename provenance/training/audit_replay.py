"""Replaying one drawn segment of an audited run: the committed state loaded, the run's own training
step re-run in a pinned environment, the result's distance to the committed state."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..digests import models, train_state
from ..digests.hashing import hash_bytes, state_dict_leaves
from ..errors import FormatError, reason
from ..merkle import Leaf
from .replay import Replayer


@dataclass(frozen=True)
class Segment:
    index: int
    epoch: int
    first: int  # the first optimizer step of the epoch it replays
    last: int  # one past its last step
    start: Leaf  # the state files (train.state leaves) it runs between
    end: Leaf

    def describe(self) -> str:
        return f"segment {self.index} (epoch {self.epoch}, steps {self.first}-{self.last})"


@dataclass
class SegmentResult:
    segment: Segment
    status: str  # reproduced | failed | cannot check
    mode: str
    detail: str
    distance: float | None = None
    threshold: float | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        s = self.segment
        return {"index": s.index, "epoch": s.epoch, "steps": [s.first, s.last], "start": s.start.name, "end": s.end.name,
                "status": self.status, "mode": self.mode, "distance": self.distance, "threshold": self.threshold,
                "seconds": round(self.seconds, 4), "detail": self.detail}


@dataclass(frozen=True)
class Plan:
    segments: list[Segment]
    config: dict[str, Any]
    replay: dict[int, dict[str, Any]]  # epoch -> its train.replay settings
    orders: dict[int, Leaf]  # epoch -> its epoch file's leaf


def _read(run_dir: Path, leaf: Leaf) -> train_state.Loaded:
    """A state or epoch file, its bytes re-hashed against the anchored leaf before they are decoded."""
    try:
        data = train_state.read_bounded(run_dir, leaf.name, leaf.size)
    except FileNotFoundError:
        raise FormatError(f"{leaf.name}: file not found in the run folder") from None
    except OSError as e:
        raise FormatError(f"{leaf.name}: expected a readable regular file, found {e.strerror or e}") from None
    if hash_bytes(data) != leaf.digest or len(data) != leaf.size:
        raise FormatError(f"{leaf.name}: its bytes no longer hash to the anchored leaf 0x{leaf.digest.hex()}")
    return train_state.decode(leaf.name, data)


def _replay(plan: Plan, segment: Segment, run_dir: Path, data: tuple[Any, Any], tolerance: float | None,
            max_tolerance: float, steps: Mapping[str, Replayer]) -> SegmentResult:
    settings = plan.replay[segment.epoch]
    recorded = settings.get("tolerance")
    mode = "tolerance" if tolerance is not None or settings.get("mode") == "tolerance" else "exact"
    threshold = tolerance if tolerance is not None else recorded
    result = SegmentResult(segment, "cannot check", mode, "", threshold=threshold)
    if mode == "tolerance" and tolerance is None:
        if isinstance(recorded, bool) or not isinstance(recorded, (int, float)) or not 0 < recorded <= max_tolerance:
            result.status, result.detail = "failed", (f"the run records tolerance {recorded!r}; this verifier accepts a "
                                                      f"positive tolerance up to {max_tolerance}")
            return result
    name = settings.get("step")
    replayer = steps.get(name) if isinstance(name, str) else None
    if replayer is None:
        result.detail = f"no replayer for the committed step {settings.get('step')!r} (known: {', '.join(sorted(steps))})"
        return result
    started = time.perf_counter()
    try:
        start, end = _read(run_dir, segment.start), _read(run_dir, segment.end)
        epoch_file = _read(run_dir, plan.orders[segment.epoch])
        rng_source = epoch_file if segment.first == 0 else start
        model, optimizer = replayer.build(plan.config)
        model.load_state_dict(start.group("model/"), strict=True)
        if start.meta.get("epoch") != _epoch_of(segment, start) or start.meta.get("step") != _step_of(segment, start):
            raise FormatError(f"{segment.start.name}: its metadata names another position")
        _load_optimizer(optimizer, start)
        order = epoch_file.tensors["order"]
        with _replay_environment(settings, rng_source):
            position = {"global_step": _global_step(plan, segment)} if replayer.positioned else {}
            replayer.run(model, optimizer, data[0], order, int(settings["batch_size"]), segment.first, segment.last, plan.config,
                         **position)
    except (FormatError, KeyError, ValueError, TypeError, RuntimeError) as e:
        result.status, result.detail = "failed", f"cannot replay from the committed state: {reason(e)}"
        result.seconds = time.perf_counter() - started
        return result
    result.seconds = time.perf_counter() - started
    replayed = models.state_dict_of(model)
    committed_end, committed_start = end.group("model/"), start.group("model/")
    result.distance = _distance(replayed, committed_end, committed_start)
    if mode == "exact":
        weights_equal = set(state_dict_leaves(replayed)) == set(state_dict_leaves(committed_end))
        optim_equal = _optimizer_tensors(optimizer) == {k: hash_bytes(v.numpy().tobytes()) for k, v in end.group("optim/").items()}
        if weights_equal and optim_equal:
            result.status, result.detail = "reproduced", "weights and optimizer state bit-exact (digests equal)"
        else:
            what = "weights" if not weights_equal else "optimizer state"
            result.status, result.detail = "failed", f"{what} differ from {segment.end.name}: normalised distance {result.distance:.6g}"
    else:
        ok = result.distance <= threshold
        result.status = "reproduced" if ok else "failed"
        result.detail = f"normalised distance {result.distance:.6g} {'<=' if ok else '>'} tolerance {threshold:g}"
    return result


def _global_step(plan: Plan, segment: Segment) -> int:
    """Optimizer steps before the segment's first, over the whole run: the epochs' committed step counts (checked by `_plan`)."""
    return sum(int(plan.replay[e]["steps"]) for e in range(1, segment.epoch)) + segment.first


def _epoch_of(segment: Segment, start: train_state.Loaded) -> int:
    return train_state.parse_state_name(segment.start.name)[0]


def _step_of(segment: Segment, start: train_state.Loaded) -> int:
    return train_state.parse_state_name(segment.start.name)[1]


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, bytes]:
    tensors, _ = train_state.state_tensors({}, optimizer)
    return {k.removeprefix("optim/"): hash_bytes(v.numpy().tobytes()) for k, v in tensors.items()}


def _load_optimizer(optimizer: torch.optim.Optimizer, start: train_state.Loaded) -> None:
    groups = start.meta.get("param_groups")
    current = optimizer.state_dict()
    if not isinstance(groups, list) or len(groups) != len(current["param_groups"]):
        raise FormatError(f"{start.name}: expected {len(current['param_groups'])} optimizer param groups, found {groups!r:.80}")
    merged = []
    for mine, theirs in zip(current["param_groups"], groups):
        if not isinstance(theirs, dict) or theirs.get("params") != mine["params"]:
            raise FormatError(f"{start.name}: optimizer param groups do not match the model's parameters")
        group = dict(mine)
        for key, value in theirs.items():  # the schedule's position (lr, betas, ...): plain numbers only
            if key in mine and key != "params" and _plain_value(value):
                group[key] = tuple(value) if isinstance(mine[key], tuple) else value
        merged.append(group)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in start.group("optim/").items():
        index, _, key = name.partition("/")
        if not index.isdigit() or not key:
            raise FormatError(f"{start.name}: unexpected optimizer tensor {name!r}")
        state.setdefault(int(index), {})[key] = tensor
    optimizer.load_state_dict({"state": state, "param_groups": merged})


def _plain_value(value: Any) -> bool:
    if isinstance(value, list):
        return len(value) <= 8 and all(_plain_value(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def _distance(replayed: Mapping[str, Any], end: Mapping[str, Any], start: Mapping[str, Any]) -> float:
    """||W' - W_end|| / ||W_end - W_start|| over the floating-point weights (PoL's distance,
    normalised by how far the segment moved the weights)."""
    off = moved = 0.0
    for name, value in end.items():
        value = torch.as_tensor(value)
        if not value.is_floating_point() or name not in replayed or name not in start:
            continue
        mine = torch.as_tensor(replayed[name]).to(torch.float64)
        if mine.shape != value.shape:
            return math.inf
        off += float(((mine - value.to(torch.float64)) ** 2).sum())
        moved += float(((value.to(torch.float64) - torch.as_tensor(start[name]).to(torch.float64)) ** 2).sum())
    if moved == 0.0:
        return 0.0 if off == 0.0 else math.inf
    return math.sqrt(off) / math.sqrt(moved)


class _replay_environment:
    """The run's RNG states, determinism and thread count for the replay; the verifier's own restored after."""

    def __init__(self, settings: Mapping[str, Any], source: train_state.Loaded) -> None:
        self.settings, self.source = settings, source

    def __enter__(self) -> None:
        self.saved = (torch.get_rng_state(), np.random.get_state(), random.getstate(),
                      torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
        threads = self.settings.get("threads")
        if isinstance(threads, int) and not isinstance(threads, bool) and 1 <= threads <= 256:
            torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(bool(self.settings.get("deterministic", True)))
        try:
            train_state.restore_rng(self.source.tensors, self.source.meta)
        except BaseException:
            self.__exit__()  # a malformed state leaves the verifier's own settings as they were
            raise

    def __exit__(self, *exc: object) -> None:
        torch_rng, numpy_rng, python_rng, deterministic, threads = self.saved
        torch.set_rng_state(torch_rng)
        np.random.set_state(numpy_rng)
        random.setstate(python_rng)
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
