"""Model weights as the tool saves and re-reads them: safetensors files, one leaf per tensor.

safetensors keeps each tensor's bytes in one contiguous span after a JSON header, so one flipped
byte in a saved model changes exactly one tensor's leaf (plus the file's own leaf), and the
verifier can name it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..merkle.kinds import MODEL_FILE as FILE_KIND, MODEL_PARAM as PARAM_KIND
from ..errors import FormatError, ProvenanceError
from ..files import atomic_write_bytes, read_file
from .hashing import hash_bytes, state_dict_leaves
from ..merkle import Leaf



def unwrap(model: Any) -> Any:
    """The module a training wrapper holds, so that tensor names stay the plain model's: Opacus's
    `GradSampleModule` (`_module.`), DDP and DataParallel (`module.`), `torch.compile` (`_orig_mod.`)."""
    for _ in range(8):  # wrappers nest (DDP around a GradSampleModule); a module is never this deep
        inner = None
        name = type(model).__name__
        if name == "GradSampleModule" or name.endswith("GradSampleModule"):
            inner = getattr(model, "_module", None)
        elif name in ("DistributedDataParallel", "DataParallel"):
            inner = getattr(model, "module", None)
        elif name == "OptimizedModule":
            inner = getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner
    return model


def state_dict_of(model: Any) -> dict[str, Any]:
    """A detached CPU copy of the weights of a torch module (unwrapped, see `unwrap`), or a
    mapping of tensors/arrays."""
    model = unwrap(model)
    if hasattr(model, "state_dict"):
        model = model.state_dict()
    if not isinstance(model, Mapping):
        raise FormatError(f"model: expected a torch module or a mapping of tensors, found {type(model).__name__}")
    return {name: (value.detach().cpu().clone() if hasattr(value, "detach") else value) for name, value in model.items()}


def save_weights(state: Mapping[str, Any], path: Path) -> bytes:
    """Write `state` as safetensors atomically; returns the bytes written."""
    from safetensors.numpy import save as save_numpy
    from safetensors.torch import save as save_torch

    torch_like = all(hasattr(v, "detach") for v in state.values())
    data = save_torch({k: v.contiguous() for k, v in state.items()}) if torch_like else save_numpy(dict(state))
    atomic_write_bytes(path, data)
    return data


def load_weights(path: Path, *, limit: int | None = None, within: Path | None = None) -> dict[str, Any]:
    """The tensors of a safetensors file, with a one-line
    error if it cannot be read. numpy arrays where numpy has the dtypes (a verifier then never
    imports torch: ~1 s of its start-up); torch tensors for bfloat16, float8 and the like. Both
    hash to the same leaves (`provenance-canonical/v1` names dtypes alike)."""
    try:
        data = read_file(path, "model file", limit=limit, within=within)
        if _numpy_dtypes_only(data):
            from safetensors.numpy import load as load_numpy

            return load_numpy(data)
        from safetensors.torch import load as load_torch

        return load_torch(data)
    except FileNotFoundError:
        raise FormatError(f"{path}: model file not found") from None
    except ProvenanceError:
        raise
    except Exception as e:  # safetensors raises its own error types for damaged headers
        raise FormatError(f"{path}: not a readable safetensors file ({' '.join(str(e).split())[:120]})") from None


_NUMPY_DTYPES = frozenset({"F64", "F32", "F16", "I64", "U64", "I32", "U32", "I16", "U16", "I8", "U8", "BOOL", "C64"})


def _numpy_dtypes_only(data: bytes) -> bool:
    """Whether every tensor of a safetensors file has a numpy dtype (`u64le n | n bytes of JSON
    header | data`). A header that does not parse is left to safetensors, which names the fault."""
    import json

    if len(data) < 8:
        return True
    size = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8:8 + size])
    except ValueError:
        return True
    if not isinstance(header, dict):
        return True
    return all(not isinstance(v, dict) or v.get("dtype") in _NUMPY_DTYPES for k, v in header.items() if k != "__metadata__")


def weight_leaves(state: Mapping[str, Any]) -> list[Leaf]:
    return state_dict_leaves(state, kind=PARAM_KIND)


def file_leaf(name: str, data: bytes) -> Leaf:
    return Leaf(FILE_KIND, name, hash_bytes(data), len(data))
