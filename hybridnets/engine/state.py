"""Training state on disk for resume: written atomically, read without unpickling code.

The state is a nest of dicts/lists of tensors, numbers and strings (the engine's state dict,
the RNG states, the recipe's bookkeeping), saved with ``torch.save`` and read back with
``torch.load(weights_only=True)``, which refuses anything that would run code.

    save_state(out_dir / "state.pt", {"engine": engine.state_dict(), "epoch": 3})
    state = load_state(out_dir / "state.pt")
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from hybridnets.atomic import atomic_path

__all__ = ["load_state", "save_state"]

_logger = logging.getLogger(__name__)


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    _logger.debug("saved training state to %s", path)
    return path


def load_state(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a state written by :func:`save_state` (``weights_only=True``: no code runs).

    Raises:
        ValueError: the file is not a readable training state (with the path and the fix).
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which and what to do
        raise ValueError(
            f"cannot read training state {path}: truncated, or not written by "
            f"hybridnets.engine.save_state ({type(err).__name__}); delete it to start the run over"
        ) from err
