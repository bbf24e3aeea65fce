"""Read and write state dicts safely: safetensors, or torch files with ``weights_only=True``.

state_dict = read_state_dict("model.safetensors")
write_state_dict(model.state_dict(), "out/model.safetensors")
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from hybridnets.atomic import atomic_path
from hybridnets.pretrained.filecheck import CheckpointFileError, checkpoint_problem, remedy

logger = logging.getLogger(__name__)

# Keys under which training scripts commonly nest the weights.
_CONTAINER_KEYS = ("state_dict", "model", "model_state", "model_state_dict", "module")


class UnsafeCheckpointError(RuntimeError):
    """A torch checkpoint needs arbitrary unpickling (code execution) to load."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load the tensors of a checkpoint file onto the CPU.

    The file is first checked for what it is (:func:`~hybridnets.pretrained.filecheck.
    checkpoint_problem`: empty, an HTML page, text, truncated). ``.safetensors`` files are
    read with safetensors; anything else with ``torch.load(weights_only=True)``, which refuses
    pickled code. Common containers (``{"state_dict": ...}``, ``{"model": ...}``) and a
    DataParallel ``module.`` prefix are unwrapped.

    Raises:
        CheckpointFileError: The file is not a checkpoint, or is truncated or corrupt (the
            message names the file and says how to replace it).
        UnsafeCheckpointError: The torch file contains objects other than tensors and containers.
    """
    path = Path(path)
    problem = checkpoint_problem(path)
    if problem is not None:
        raise CheckpointFileError(f"cannot load weights from {path}: {problem}. {remedy(path)}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device="cpu")
        except SafetensorError as e:
            raise CheckpointFileError(
                f"cannot load weights from {path}: safetensors says {e}. {remedy(path)}"
            ) from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(
            f"refusing to load {path}: besides tensors it holds pickled Python objects, and "
            "unpickling runs code from the file, which can do anything your account can; "
            "hybridnets only loads torch files with weights_only=True. Only if you trust whoever "
            "made the file: convert it once by loading it with torch.load and weights_only "
            "switched off (this executes that code) and safetensors.torch.save_file(state_dict, "
            "'model.safetensors'), then load the .safetensors file.\n"
            f"torch said: {_unpickler_reason(e)}"
        ) from e
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointFileError(
            f"cannot load weights from {path}: torch could not read it "
            f"({str(e).splitlines()[0] if str(e) else type(e).__name__}). {remedy(path)}"
        ) from e
    return _unwrap(obj, path)


def _unpickler_reason(error: Exception) -> str:
    """The line of torch's weights-only error that names the refused object."""
    lines = str(error).splitlines() or [type(error).__name__]
    return next((ln.strip() for ln in lines if "WeightsUnpickler error" in ln), lines[0])


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    while isinstance(obj, Mapping) and not _is_state_dict(obj):
        inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not _is_state_dict(obj):
        raise ValueError(f"{path} does not hold a state dict (name -> tensor mapping)")
    state_dict = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
    return state_dict


def _is_state_dict(obj: Mapping) -> bool:
    return len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def write_state_dict(
    state_dict: Mapping[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None
) -> None:
    """Write ``state_dict`` as safetensors via a temporary file and an atomic rename.

    Tensors are copied to contiguous CPU memory so tied or strided tensors save cleanly.
    """
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    logger.info("wrote %d tensors to %s", len(tensors), path)
