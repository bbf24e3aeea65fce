"""``save_pretrained``: a folder that ``hybridnets.create(pretrained=folder)`` rebuilds.

save_pretrained(model, "runs/best")          # model.safetensors + config.json
model = hybridnets.create(pretrained="runs/best")
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from torch import nn

from hybridnets.atomic import atomic_write_text
from hybridnets.pretrained.io import write_state_dict
from hybridnets.pretrained.sources import CONFIG_FILE, WEIGHT_FILES

logger = logging.getLogger(__name__)


def save_pretrained(model: nn.Module, folder: str | Path) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (architecture, kwargs, pretrained_cfg).

    Both files go through a temporary file and an atomic rename, so a crash never leaves a
    half-written checkpoint behind.

    Args:
        model: A model built by :func:`hybridnets.create` (it carries ``hybridnets_config``).
        folder: Created if needed.

    Returns:
        The folder.

    Raises:
        ValueError: The model has no ``hybridnets_config`` or its kwargs are not JSON values.
    """
    config = getattr(model, "hybridnets_config", None)
    if not isinstance(config, dict) or "architecture" not in config:
        raise ValueError(
            f"{type(model).__name__} has no hybridnets_config; save_pretrained needs a model "
            "built by hybridnets.create (use write_state_dict for plain weights)"
        )
    kwargs = dict(config.get("kwargs", {}))
    for key, value in kwargs.items():
        try:
            json.dumps(value)
        except TypeError:
            raise ValueError(
                f"constructor argument {key}={value!r} cannot be written to {CONFIG_FILE}; "
                "pass it again to create() when loading, or build the model without it"
            ) from None
    payload = {
        "architecture": config["architecture"],
        "kwargs": kwargs,
        "pretrained_cfg": _jsonable(dict(getattr(model, "pretrained_cfg", None) or {})),
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_state_dict(model.state_dict(), folder / WEIGHT_FILES[0], metadata={"format": "pt"})
    atomic_write_text(folder / CONFIG_FILE, json.dumps(payload, indent=2) + "\n")
    logger.info("saved %s to %s", config["architecture"], folder)
    return folder


def _jsonable(cfg: dict) -> dict:
    out = {}
    for key, value in cfg.items():
        try:
            json.dumps(value)
        except TypeError:
            logger.debug("pretrained_cfg[%r] is not JSON; written as a string", key)
            value = repr(value)
        out[key] = value
    return out
