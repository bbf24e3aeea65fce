"""What an alignment run leaves behind: the image tower as a backbone, and the aligned model.

- ``image_tower/``: the backbone alone (:func:`hybridnets.checkpoint.save_checkpoint`: a
  hybridnets model loads with ``hybridnets.create(pretrained=folder)``, any model with
  :func:`hybridnets.checkpoint.load_trained`), ready for fine-tuning.
- ``aligned/``: ``model.safetensors`` with everything the run trained (a frozen text
  encoder is left out: it is the text model's own weights) and ``checkpoint.json`` (the settings
  that rebuild it); :func:`load_aligned` gives back an :class:`ImageTextModel`.

    save_aligned(model, "runs/a/aligned", recipe)
    model, recipe = load_aligned("runs/a/aligned")
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from torch import nn

from hybridnets.checkpoint.classifier import save_checkpoint
from hybridnets.checkpoint.record import read_record, write_record
from hybridnets.multimodal import ImageTextModel, build_image_text_model

__all__ = ["load_aligned", "save_aligned", "save_image_tower"]

_WEIGHTS = "model.safetensors"
_FROZEN_TEXT = "text.encoder."


def save_image_tower(model: ImageTextModel, folder: str | Path, recipe: dict[str, Any]) -> Path:
    """The image backbone (no pooling or projection) as a checkpoint folder."""
    backbone: nn.Module = copy.deepcopy(model.image.backbone).cpu()
    backbone_recipe = {
        "model": recipe["model"],
        "model_kwargs": recipe.get("model_kwargs", {}),
        "spatial_dims": recipe["spatial_dims"],
        "in_chans": recipe["in_chans"],
        "num_classes": 0,
        "input_size": recipe["input_size"],
        "mean": recipe.get("mean"),
        "std": recipe.get("std"),
        "data": recipe.get("data"),
        "aligned_with": recipe.get("text_model"),
    }
    return save_checkpoint(backbone, folder, backbone_recipe)


def _trained_state(model: ImageTextModel) -> dict[str, Any]:
    """The state dict less a frozen text encoder (LoRA: its adapters only)."""
    state = model.state_dict()
    if model.text.trainable and model.text.lora_rank is None:
        return state
    lora = model.text.lora_rank is not None
    return {
        k: v for k, v in state.items() if not k.startswith(_FROZEN_TEXT) or (lora and "lora_" in k)
    }


def save_aligned(model: ImageTextModel, folder: str | Path, recipe: dict[str, Any]) -> Path:
    """Write the trained weights and ``checkpoint.json`` (kind ``aligned``; ``recipe``: the
    build settings)."""
    from hybridnets.pretrained import write_state_dict

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in _trained_state(model).items()}
    write_state_dict(state, folder / _WEIGHTS)
    write_record(folder, "aligned", recipe)
    return folder


def load_aligned(folder: str | Path) -> tuple[ImageTextModel, dict[str, Any]]:
    """Rebuild a model written by :func:`save_aligned`; returns ``(model in eval mode, recipe)``.

    Raises:
        ValueError: the weights do not fit the rebuilt model (beyond the frozen text encoder).
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    found = read_record(folder)
    if found is None or found[0] != "aligned":
        raise FileNotFoundError(f"{folder} holds no aligned image-text model (checkpoint.json)")
    recipe = found[1]
    model = build_image_text_model(
        recipe["model"],
        recipe["spatial_dims"],
        recipe["in_chans"],
        text_model=recipe["text_model"],
        embed_dim=recipe["embed_dim"],
        pool=recipe["pool"],
        text_pooling=recipe["text_pooling"],
        text_max_length=recipe["text_max_length"],
        text_trainable=recipe["text_trainable"],
        text_lora_rank=recipe["text_lora_rank"],
        input_size=(recipe["input_size"],) * recipe["spatial_dims"],
        model_kwargs=recipe.get("model_kwargs"),
    )
    missing, unexpected = model.load_state_dict(load_file(str(folder / _WEIGHTS)), strict=False)
    expected = set(model.state_dict()) - set(_trained_state(model))
    if unexpected or set(missing) - expected:
        raise ValueError(
            f"{folder / _WEIGHTS} does not fit the model of its checkpoint.json: missing "
            f"{sorted(set(missing) - expected)[:5]}, unexpected {unexpected[:5]}"
        )
    return model.eval(), recipe
