"""Checkpoint folders of trained classifiers and backbones: weights and ``checkpoint.json``.

save_checkpoint(model, "runs/x/best", recipe={...})
model, recipe = load_trained("runs/x/best")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from hybridnets.checkpoint.record import model_kind, read_record, write_record
from hybridnets.resolve import create_model, model_source

__all__ = ["load_trained", "save_checkpoint"]

_WEIGHTS_FILE = "model.safetensors"


def save_checkpoint(model: nn.Module, folder: str | Path, recipe: dict[str, Any]) -> Path:
    """Save weights and ``checkpoint.json`` (kind, model name, kwargs, data shape,
    preprocessing, classes: ``recipe``) into ``folder``.

    hybridnets models go through :func:`hybridnets.pretrained.save_pretrained` (weights and
    ``config.json``, loadable by ``hybridnets.create(pretrained=folder)``); MONAI and timm models
    and fusion classifiers (``recipe["fusion"]``) are ``model.safetensors`` of the state dict.
    Every file is written atomically.
    """
    from hybridnets.pretrained import save_pretrained, write_state_dict

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if model_source(recipe["model"]) == "hybridnets" and "fusion" not in recipe:
        save_pretrained(model, folder)
    else:
        write_state_dict(model.state_dict(), folder / _WEIGHTS_FILE)
    write_record(folder, model_kind(recipe), recipe)
    return folder


def load_trained(folder: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_checkpoint`; returns ``(model, recipe)``.

    A fusion classifier's recipe holds its clinical preprocessing: feed it
    ``TabularPreprocessor.from_dict(recipe["tabular"]).transform(rows)`` beside the images;
    its ``use_table`` (False where validation showed the columns did not help) is set on the
    model.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    found = read_record(folder)
    if found is None:
        raise FileNotFoundError(f"{folder} holds no checkpoint.json (or recipe.json)")
    recipe = found[1]
    shape = (recipe["spatial_dims"], recipe["in_chans"], recipe["num_classes"])
    kwargs = recipe.get("model_kwargs", {})
    if "fusion" in recipe:
        from hybridnets.data.tabular import TabularPreprocessor
        from hybridnets.multimodal.fusion import FusionClassifier

        spec = TabularPreprocessor.from_dict(recipe["tabular"]).spec
        model = FusionClassifier(
            recipe["model"], *shape, spec, recipe["fusion"], recipe["fusion_dim"], **kwargs
        )
        model.use_table = recipe.get("use_table", True)
    else:
        model = create_model(recipe["model"], *shape, **kwargs)
    model.load_state_dict(load_file(str(folder / _WEIGHTS_FILE)))
    return model.eval(), recipe
